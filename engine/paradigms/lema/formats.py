"""Parsers for LEMA's teacher answers: the correction triplet, evolved questions, majorities.

The correction prompt (``recipes/prompts/lema/correct.j2``, few-shot in the layout of
microsoft/LEMA) ends with ``Incorrect Step:``; the teacher answers::

    Incorrect Step: Step 2.
    Explanation: ...
    Correct Solution:
    {
    ...
    Step 2: ...
    The answer is 113.
    }

where the literal ``...`` stands for the unchanged earlier steps and is kept in training
targets, as the paper trained on it. Real teachers drop the label (completing after
"Incorrect Step:"), the braces or the ``...``, run on into another example, or name two
steps; ``parse_triplet`` repairs what is unambiguous (``notes``) and flags the rest
(``reason``). Text only: no store, no model.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.steps import chain_steps
from engine.tasks.numbers import read_answer

_INCORRECT = re.compile(r"^\s*(?:\*\*)?Incorrect Step(?:\*\*)?\s*:\s*(.*)$",
                        re.IGNORECASE | re.MULTILINE)
_EXPLANATION = re.compile(r"^\s*(?:\*\*)?Explanation(?:\*\*)?\s*:\s*", re.IGNORECASE | re.MULTILINE)
_SOLUTION = re.compile(r"^\s*(?:\*\*)?Correct(?:ed)? Solution(?:\*\*)?\s*:\s*",
                       re.IGNORECASE | re.MULTILINE)
_RUN_ON = re.compile(r"^\s*Question\s*:", re.MULTILINE)  # the start of another example
_STEP_NUMBER = re.compile(r"step\s*(\d+)", re.IGNORECASE)
_ELIDED = re.compile(r"^\s*(?:\.\.\.|…)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Triplet:
    """A parsed correction; ``reason`` is '' when it is usable."""

    step: int | None
    explanation: str
    solution: str  # the corrected solution as written between the braces ("..." kept)
    steps: list[str]  # the corrected steps' texts, numbered from ``step`` (labels dropped)
    answer: str | None  # the number after the corrected solution's "The answer is"
    elided: bool  # a "..." line stands for the earlier steps
    reason: str
    notes: list[str] = field(default_factory=list)  # what was repaired
    answer_line: str | None = None  # the corrected solution's "The answer is ..." line

    @property
    def ok(self) -> bool:
        return not self.reason

    def target(self) -> str:
        """The training output in the published layout (after the prompt's "Incorrect Step:")."""
        return (f"Step {self.step}.\nExplanation: {self.explanation}\nCorrect Solution:\n"
                f"{{\n{self.solution}\n}}")

    def full_solution(self, original_steps: Sequence[str]) -> str:
        """The whole corrected chain: the original steps before ``step``, then the new ones."""
        assert self.step is not None
        kept = [f"Step {k}: {t}" for k, t in enumerate(original_steps[: self.step - 1], 1)]
        new = [f"Step {k}: {t}" for k, t in enumerate(self.steps, start=self.step)]
        tail = [self.answer_line] if self.answer_line else \
            [f"The answer is {self.answer}."] if self.answer is not None else []
        return "\n".join([*kept, *new, *tail])


def _braced(text: str, notes: list[str]) -> str:
    """The solution between the first '{' and its matching '}' (or what follows the label)."""
    start = text.find("{")
    if start < 0:
        notes.append("no braces around the corrected solution")
        return text.strip()
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1:i].strip()
    notes.append("the closing brace is missing")
    return text[start + 1:].strip()


def parse_triplet(text: str, n_steps: int | None = None) -> Triplet:
    """Read a correction triplet; ``n_steps`` (the original solution's) bounds the step."""
    notes: list[str] = []
    body = text
    run_on = _RUN_ON.search(body)
    if run_on is not None and run_on.start() > 0:
        body = body[:run_on.start()]
        notes.append("text after the correction (another example) dropped")
    labels = list(_INCORRECT.finditer(body))
    if labels:
        first_line = labels[0].group(1)
    else:  # completed after the prompt's "Incorrect Step:": the answer starts "Step k."
        first_line = body.strip().splitlines()[0] if body.strip() else ""
        if _STEP_NUMBER.match(first_line.strip()):
            notes.append("no 'Incorrect Step:' label (taken as the completion after it)")
    named = [int(m.group(1)) for lab in labels for m in [_STEP_NUMBER.search(lab.group(1))] if m]
    found = _STEP_NUMBER.match(first_line.strip())
    step = int(found.group(1)) if found else (named[0] if named else None)
    reason = ""
    if len(set(named)) > 1:
        reason = f"two Incorrect Step lines name different steps ({named[0]} and {named[1]})"
    elif len(labels) > 1:
        notes.append("the Incorrect Step line is repeated")
    if step is None and not reason:
        reason = "no incorrect step named ('Incorrect Step: Step k.')"
    elif step is not None and (step < 1 or (n_steps is not None and step > n_steps + 1)):
        reason = f"Step {step} is not a step of the original solution ({n_steps} steps)"
    explanation_at = _EXPLANATION.search(body)
    solution_at = _SOLUTION.search(body)
    explanation = ""
    if explanation_at is not None:
        end = solution_at.start() if solution_at and solution_at.start() > explanation_at.end() \
            else len(body)
        explanation = body[explanation_at.end():end].strip()
    solution = _braced(body[solution_at.end():], notes) if solution_at else ""
    chain = chain_steps(solution)
    steps = [t for n, t in zip(chain.numbers, chain.texts, strict=True)
             if step is None or n >= step]
    # the number the answer line states (the first after "The answer is", as gsm8k reads it)
    answer = read_answer(chain.answer_line) if chain.answer_line else None
    if not reason:
        if not explanation:
            reason = "no Explanation"
        elif solution_at is None:
            reason = "no Correct Solution"
        elif not steps:
            reason = f"the corrected solution has no steps from Step {step} on"
        elif chain.answer_line is None:
            reason = "the corrected solution has no final 'The answer is N.'"
    return Triplet(step, explanation, solution, steps, answer, bool(_ELIDED.search(solution)),
                   reason, notes, chain.answer_line)


_NEW_QUESTION = re.compile(r"^\s*(?:\*\*)?(?:New\s+)?Question\s*\d+\s*(?:\*\*)?\s*[:.)]"
                           r"\s*(?:\*\*)?\s*(.+)$", re.IGNORECASE | re.MULTILINE)


def parse_questions(text: str) -> list[str]:
    """The new questions of an evolution answer ("New Question k: ..."), in order, deduplicated."""
    seen: list[str] = []
    for match in _NEW_QUESTION.finditer(text):
        question = match.group(1).strip()
        if question and question not in seen:
            seen.append(question)
    return seen


def majority(answers: Sequence[str | None]) -> str | None:
    """The answer more than half of the answers agree on (LEMA labels a new question by
    the majority of 3 teacher answers); None when there is no majority."""
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None
    value, count = counts.most_common(1)[0]
    return value if count * 2 > len(answers) else None
