"""The open-ended lab family for REER: "explain why this total is right", over ``arith`` items.

The query x gives an ``arith`` question and its total and asks why the total is right;
the reference answer y walks through the changes in order, one paragraph each. The
scripted teacher drafts a first-person thinking for (x, y) in which some paragraphs are
vague ("I will mention this change somewhere"), and its edits make a marked segment
concrete (the calculation, in the story's words), so REER's search has something real
to find. Good enough to exercise the search; REER's real test is a real teacher.

``quality`` is the scripted judge's measure of an answer: the share of the changes whose
calculation it states correctly, and whether it states the total. It is a fixed rubric,
with no position or length bias, so lab win-rates check the judging pipeline only.
"""

from __future__ import annotations

import random
import re
from typing import Any

from engine.lab.arith import ArithItem, Parsed, parse_question

QUERY_TAIL = "Explain why this total is right."
_QUERY = re.compile(r"^(?P<question>.+?)\s*The total is (?P<total>-?\d+)\.\s*"
                    + re.escape(QUERY_TAIL), re.DOTALL)
_VERB = {"+": "add", "-": "take away", "*": "multiply by"}


def query(item: ArithItem) -> str:
    return f"{item.question} The total is {item.answer}. {QUERY_TAIL}"


def read_query(text: str) -> tuple[Parsed, int] | None:
    """The arith question and total inside a query (anywhere in ``text``); None if absent."""
    for line_start in [m.start() for m in re.finditer(r"(?m)^", text)]:
        found = _QUERY.match(text, line_start)
        if found:
            parsed = parse_question(found.group("question"))
            if parsed is not None:
                return parsed, int(found.group("total"))
    return None


def _change(parsed: Parsed, k: int) -> tuple[str, int, str, int, int]:
    step = parsed.steps[k]
    return parsed.change_sentences[k], step.a, step.op, step.b, step.result


def reference(item: ArithItem) -> str:
    """The known-good answer y: the changes in order, one paragraph each."""
    parsed = parse_question(item.question)
    assert parsed is not None, "an arith question always parses"
    things = parsed.things
    paras = [f"The total of {item.answer} is right because it follows the {things} through "
             f"every change in the story, in the order the story tells them.",
             f"At the start there are {parsed.start} {things}."]
    for k in range(len(parsed.steps)):
        sentence, a, op, b, r = _change(parsed, k)
        how = {"+": f"{b} more come in", "-": f"{b} go out",
               "*": f"the amount becomes {b} times as large"}[op]
        paras.append(f'The story says: "{sentence}" So {how}: {a} {op} {b} = {r}.')
    if parsed.distractors:
        listed = ", ".join(str(n) for n in parsed.distractors)
        paras.append(f"The other numbers in the story ({listed}) describe other things, "
                     "so they play no part in the total.")
    paras.append(f"After the last change there are {item.answer} {things}, and that is "
                 "the total.")
    return "\n\n".join(paras)


def record(item: ArithItem) -> dict[str, Any]:
    """A JSONL record of the family: query, reference, and the arith item's fields."""
    return {**item.record(), "family": "why", "query": query(item),
            "reference": reference(item), "id": item.id.replace("arith-", "why-")}


def _concrete(sentence: str, a: int, op: str, b: int, r: int, variant: int) -> str:
    if variant % 2 == 0:
        return (f'Next the story says "{sentence}" Wait, that means I {_VERB[op]} {b}: '
                f"{a} {op} {b} = {r}. I will say this in one plain sentence with the numbers.")
    return (f'Then comes "{sentence}" Hmm, so the running total goes from {a} to {r}, '
            f"because {a} {op} {b} = {r}. I should write that calculation out for the reader.")


def _vague(sentence: str) -> str:
    return (f'Next the story says "{sentence}" Hmm, I will mention this change somewhere '
            "in the explanation, without going into it.")


def draft(parsed: Parsed, total: int, rng: random.Random) -> str:
    """A first-person thinking, in one ``<think>`` block, some step paragraphs vague."""
    steps = parsed.steps
    vague = {k for k in range(len(steps)) if rng.random() < 0.5} or {rng.randrange(len(steps))}
    paras = [f"Alright, the user wants me to explain why {total} is the right total for this "
             f"problem about {parsed.things}. Hmm, I should walk through the story in order, "
             "so that every change is clear, and not just repeat the number."]
    for k in range(len(steps)):
        sentence, a, op, b, r = _change(parsed, k)
        paras.append(_vague(sentence) if k in vague else _concrete(sentence, a, op, b, r, 0))
    if parsed.distractors:
        listed = ", ".join(str(n) for n in parsed.distractors)
        paras.append(f"But wait, the story also mentions {listed}. I should say that these "
                     "numbers describe other things, so the student does not use them.")
    paras.append("---\nOutline:\n1. Say why the total is right in one sentence.\n"
                 f"2. Start from the {parsed.start} {parsed.things}.\n"
                 f"3. Go through the {len(steps)} changes in order.\n4. End with the total.")
    return "<think>\n" + "\n\n".join(paras) + "\n</think>"


def refine(parsed: Parsed, segment: str, variant: int) -> str:
    """A better version of a marked segment: its vague step paragraphs made concrete."""
    out = []
    for para in re.split(r"\n\s*\n", segment.strip()):
        quoted = re.search(r'"([^"]+)"', para)
        k = next((i for i, s in enumerate(parsed.change_sentences)
                  if quoted and quoted.group(1) == s), None)
        if k is not None:
            out.append(_concrete(*_change(parsed, k), variant=variant))
        elif para.startswith("Alright"):
            out.append(para.replace("Hmm, I should", "Hmm, the clearest way is to")
                       if variant % 2 == 0 else para)
        else:
            out.append(para)
    return "\n\n".join(out)


_CALC = re.compile(r"(-?\d+)\s*([-+*x\u00d7])\s*(-?\d+)\s*=\s*(-?\d+)")


def quality(parsed: Parsed, total: int, answer: str) -> float:
    """Share (0-1) of the changes whose calculation the answer states right, plus the total
    stated, over (changes + 1)."""
    calcs = {(int(a), {"x": "*", "\u00d7": "*"}.get(op, op), int(b), int(r))
             for a, op, b, r in _CALC.findall(answer)}
    steps = parsed.steps
    found = sum((s.a, s.op, s.b, s.result) in calcs or (s.op in "+*" and
                (s.b, s.op, s.a, s.result) in calcs) for s in steps)
    said_total = str(total) in re.findall(r"-?\d+", answer)
    return (found + said_total) / (len(steps) + 1)


def rubric_score(parsed: Parsed, total: int, answer: str) -> int:
    """The scripted judge's 1-10 score of an answer."""
    return 1 + round(9 * quality(parsed, total, answer))
