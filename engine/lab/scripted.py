"""The scripted teacher's answers: always right, or wrong at a set rate in a set style.

``answer(messages, sample_index, options)`` recognises the request from the format its
prompt asks for (``engine.lab.protocol``), reads the problem from the prompt's labelled
sections, and writes the answer a careful teacher would. The answer depends only on the
prompt, the sample index and ``options`` (so cache and resume behave): whether this
answer slips is drawn from a hash of the three, with probability ``error_rate``, and a
slip is one mistake of ``style`` (``engine.lab.mistakes``) in what it writes. A prompt
that asks for none of its formats gets ``UNKNOWN``, a short note saying so (probes and
"try a prompt" work); one that asks for a format but whose problem it cannot read raises
``LabRefusal`` (the server answers 400 with the message).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.lab import corrections, why
from engine.lab.arith import (
    ArithItem,
    Dials,
    Parsed,
    Step,
    apply,
    chain_text,
    make_item,
    parse_question,
)
from engine.lab.chain import (
    ChainCheck,
    check_chain,
    check_steps,
    final_answer,
    find_calc,
    parse_chain,
)
from engine.lab.mistakes import STYLES, with_mistake
from engine.lab.protocol import LabRequest, recognise

VERSION = 2  # bumped when an answer changes, so cached answers of an older teacher are not reused


@dataclass(frozen=True)
class LabOptions:
    """How the scripted teacher behaves (a recipe's ``teacher.lab``)."""

    error_rate: float = 0.0
    style: str = "mixed"
    seed: int = 0
    latency_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.error_rate <= 1:
            raise ValueError(f"error_rate must be between 0 and 1, got {self.error_rate}")
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(STYLES)}, got {self.style!r}")
        if self.latency_s < 0:
            raise ValueError(f"latency_s must be >= 0, got {self.latency_s}")

    @property
    def identity(self) -> str:
        """The teacher's name in cache keys: different settings never share answers."""
        return (f"lab:v{VERSION}?error_rate={self.error_rate:g}&style={self.style}"
                f"&seed={self.seed}")


UNKNOWN = ("I am Distillab's scripted lab teacher. I answer only the request formats of the "
           "lab's prompts (recipes/prompts; docs/lab.md lists the phrase each format is known "
           "by), and this prompt asks for none of them.")


class LabRefusal(ValueError):
    """A prompt the scripted teacher cannot answer; the message says why."""


@dataclass
class _Call:
    request: LabRequest
    rng: random.Random
    wrong: bool
    options: LabOptions


def answer(messages: Sequence[Mapping[str, Any]], sample_index: int,
           options: LabOptions) -> tuple[str, str]:
    """The answer text for a chat request and its kind."""
    request = recognise(messages)
    if request is None:  # a probe, a "try a prompt", or a template that lost its format
        return UNKNOWN, "unknown"
    digest = hashlib.sha256(f"{options.seed}|{sample_index}|{request.text}".encode()).digest()
    rng = random.Random(digest)
    call = _Call(request, rng, rng.random() < options.error_rate, options)
    return WRITERS[request.kind](call), request.kind


# -- reading the problem ---------------------------------------------------------------
def _question(call: _Call, label: str = "Question") -> tuple[ArithItem, Parsed]:
    text = call.request.section(label)
    if text:  # the question is one paragraph; instructions may follow it
        text = re.split(r"\n\s*\n", text, maxsplit=1)[0].strip()
    parsed = parse_question(text) if text else None
    if text is None or parsed is None:
        raise LabRefusal(f"the lab teacher reads only arith questions (distillab lab make "
                         f"arith); the prompt's {label}: section is "
                         f"{'missing' if text is None else 'not one'}")
    return ArithItem(text, tuple(parsed.steps), parsed.distractors), parsed


def _chain(call: _Call, label: str) -> str:
    text = call.request.section(label)
    if text is None:
        raise LabRefusal(f"the prompt has no {label}: section for the lab teacher to check")
    return text


def _slipped(call: _Call, item: ArithItem, first: int = 1) -> list[Step]:
    return with_mistake(item, call.options.style, call.rng, first)[0]


# -- chain of thought and plain answers ------------------------------------------------
def _solve(call: _Call) -> str:
    item, _ = _question(call)
    steps = _slipped(call, item) if call.wrong else list(item.steps)
    return chain_text(steps)


def _answer_only(call: _Call) -> str:
    item, _ = _question(call)
    final = _slipped(call, item)[-1].result if call.wrong else item.answer
    return f"The answer is {final}."


# -- ELAD: step verification and revision ----------------------------------------------
def _checked(call: _Call, label: str = "Solution") -> tuple[ArithItem, ChainCheck]:
    item, _ = _question(call)
    return item, check_chain(item, _chain(call, label))


def _verify_step(call: _Call) -> str:
    _, check = _checked(call)
    step = call.request.number(r"Is Step (\d+) correct\?")
    assert step is not None  # the kind is recognised by this phrase
    ok = check.verdicts[step - 1] if 1 <= step <= len(check.verdicts) else False
    return "Yes" if ok != call.wrong else "No"


def _verify_all(call: _Call) -> str:
    _, check = _checked(call)
    verdicts = list(check.verdicts)
    if call.wrong and verdicts:
        flip = call.rng.randrange(len(verdicts))
        verdicts[flip] = not verdicts[flip]
    return "\n".join(f"Step {k}: {'Yes' if ok else 'No'}" for k, ok in enumerate(verdicts, 1))


def _from_step(item: ArithItem, k: int, chain_text_: str) -> list[Step]:
    """The correct steps from step k on, continuing from the chain's own step k-1."""
    steps = parse_chain(chain_text_).steps
    previous = steps[k - 2].calc if 2 <= k <= len(steps) + 1 else None
    value = previous.result if previous is not None else (
        item.steps[k - 2].result if k >= 2 else item.steps[0].a)
    out = []
    for gold in item.steps[k - 1:]:
        result = apply(value, gold.op, gold.b)
        out.append(Step(value, gold.op, gold.b, result))
        value = result
    return out


def _revise(call: _Call) -> str:
    item, _ = _question(call)
    k = call.request.number(r"correct solution from Step (\d+) on")
    assert k is not None
    k = max(1, min(k, len(item.steps)))
    steps = _slipped(call, item, k)[k - 1:] if call.wrong else \
        _from_step(item, k, _chain(call, "Solution"))
    return chain_text(steps, first=k)


# -- LEMA: corrections, evolution ------------------------------------------------------
def _lema_correct(call: _Call) -> str:
    item, parsed = _question(call)
    original = _chain(call, "Original Solution")
    check = check_chain(item, original)
    if check.first_wrong is None:
        return ("Incorrect Step: none.\nExplanation: Every step of the original solution is "
                f"correct.\nCorrect Solution:\n{{\n{item.solution}\n}}")
    k = min(check.first_wrong, len(item.steps))
    steps = _from_step(item, k, original)
    why_text = corrections.explanation(item, check.first_wrong, check.reason,
                                       parsed.change_sentences)
    if call.wrong:
        if call.rng.random() < 0.5 and len(item.steps) > 1:  # names the wrong step
            k = k + 1 if k < len(item.steps) else k - 1
            steps = list(item.steps[k - 1:])
        else:  # the corrected solution slips
            steps = _slipped(call, item, k)[k - 1:]
    return corrections.lema_triplet(k, why_text, steps, steps[-1].result)


_DIFFICULTY = {"easier": -1, "harder": 1}


def _evolve(call: _Call) -> str:
    item, parsed = _question(call)
    n = call.request.number(r"Write (\d+) new questions") or 1
    words = re.findall(r"\b(easier|harder|similar)\b", call.request.text, re.IGNORECASE)
    shift = _DIFFICULTY.get(words[-1].lower(), 0) if words else 0
    ops = max(2, min(5, len(parsed.changes) + shift))
    mix = "".join(sorted({"x" if op == "*" else op for op, _ in parsed.changes}))
    digits = max(1, min(6, len(str(parsed.start))))
    dials = Dials(digits=digits, ops=ops, mix=mix, distractors=min(4, len(parsed.distractors)))
    seen: set[str] = {item.question}
    lines: list[str] = []
    while len(lines) < n:
        question = make_item(call.rng, dials).question
        if question not in seen:
            seen.add(question)
            lines.append(f"New Question {len(lines) + 1}: {question}")
    return "\n".join(lines)


# -- SuperCorrect: templates and corrections -------------------------------------------
_XML_STEP = re.compile(r"<Step(\d+)>(.*?)(?:</Step\1>|(?=<Step\d+>)|$)", re.DOTALL)
_KEY = re.compile(r"<Key>.*?(?:</Key>|$)", re.DOTALL)


def _template(call: _Call) -> str:
    item, parsed = _question(call)
    steps = _slipped(call, item) if call.wrong else list(item.steps)
    return corrections.xml_template(steps, parsed.things, steps[-1].result)


def _xml_correct(call: _Call) -> str:
    item, parsed = _question(call)
    attempt = _chain(call, "Student solution")
    calcs = [find_calc(_KEY.sub("", body)) for _, body in _XML_STEP.findall(attempt)]
    stated = re.findall(r"<Answer>\s*(.*?)\s*</Answer>", attempt, re.DOTALL)
    check = check_steps(item, calcs, final_answer(f"The answer is {stated[-1]}")
                        if stated else None)
    if check.first_wrong is None:
        return f"<Answer>{item.answer}</Answer>"
    k = min(check.first_wrong, len(item.steps))
    previous = calcs[k - 2] if 2 <= k <= len(calcs) + 1 else None
    value = previous.result if previous is not None else (
        item.steps[k - 2].result if k >= 2 else item.steps[0].a)
    gold = item.steps[k - 1]
    fixed = Step(value, gold.op, gold.b, apply(value, gold.op, gold.b))
    if call.wrong:
        fixed = _slipped(call, item, k)[k - 1]
    cause = corrections.explanation(item, check.first_wrong, check.reason,
                                    parsed.change_sentences)
    return corrections.xml_correction(k, cause, corrections.step_prose(fixed, k, parsed.things),
                                      item.answer)


# -- REER: drafts and segment edits ----------------------------------------------------
def _task(call: _Call) -> tuple[Parsed, int]:
    found = why.read_query(call.request.section("Task") or "")
    if found is None:
        raise LabRefusal("the lab teacher drafts thinking only for the 'explain why this "
                         "total is right' family (distillab lab make why); the prompt's "
                         "Task: section is not one of its queries")
    return found


def _draft(call: _Call) -> str:
    parsed, total = _task(call)
    return why.draft(parsed, total, call.rng)


def _edit(call: _Call) -> str:
    parsed, _ = _task(call)
    marked = re.findall(r"<replace>(.*?)</replace>", call.request.section("Thinking") or "",
                        re.DOTALL)
    if not marked:
        raise LabRefusal("the prompt's Thinking: section has no <replace>...</replace> segment")
    segment = marked[-1]
    better = why.refine(parsed, segment, variant=call.rng.randrange(2))
    changed = better.strip() != segment.strip()
    analysis = ("The marked segment names a change without working it out; the reader needs "
                "the calculation in the story's words." if changed else
                "The marked segment already reads well; a plainer wording will do.")
    return f"Analysis: {analysis}\n<refine>\n{better}\n</refine>"


# -- the judge (engine/tasks/openended.py's prompts) on the `why` family -----------------
def _bracketed(call: _Call, label: str, until: str) -> str:
    found = re.search(rf"\[{re.escape(label)}\]\n(.*?)\n\n(?:{until})", call.request.text,
                      re.DOTALL)
    if found is None:
        raise LabRefusal(f"the judge prompt has no [{label}] section")
    return found.group(1)


def _judged(call: _Call) -> tuple[Parsed, int]:
    found = why.read_query(_bracketed(call, "Request", r"\["))
    if found is None:
        raise LabRefusal("the lab teacher judges only the 'explain why this total is right' "
                         "family (distillab lab make why); the [Request] is not one of its "
                         "queries")
    return found


def _judge_rubric(call: _Call) -> str:
    parsed, total = _judged(call)
    answer = _bracketed(call, "Answer to rate", r"Explain briefly")
    score = why.rubric_score(parsed, total, answer)
    return f"The answer states {score - 1} of 9 parts of the reasoning.\nScore: {score}"


def _judge_pairwise(call: _Call) -> str:
    parsed, total = _judged(call)
    a = why.quality(parsed, total, _bracketed(call, "Answer A", r"\[Answer B\]"))
    b = why.quality(parsed, total, _bracketed(call, "Answer B", r"Which answer is better"))
    verdict = "A" if a > b else "B" if b > a else "tie"
    return f"A covers {a:.2f} of the reasoning, B {b:.2f}.\n[[{verdict}]]"


WRITERS = {
    "judge.rubric": _judge_rubric, "judge.pairwise": _judge_pairwise,
    "cot.solve": _solve, "answer": _answer_only, "elad.verify_step": _verify_step,
    "elad.verify_all": _verify_all, "elad.revise": _revise, "lema.correct": _lema_correct,
    "lema.evolve": _evolve, "supercorrect.template": _template,
    "supercorrect.correct": _xml_correct, "reer.draft": _draft, "reer.edit": _edit,
}
