"""Reading a step chain and finding its first wrong step, against an ``arith`` item.

A chain is the step format every lab prompt asks for::

    Step 1: 347 - 129 = 218.
    Step 2: 218 * 3 = 654.
    The answer is 654.

``parse_chain`` reads the steps (the last calculation ``a op b = c`` in each, with
``x``, ``×`` or ``*`` for times) and the final answer line. ``check_steps`` judges every
step the way a careful teacher would: step k must apply the operation the question
gives for its k-th change to the right numbers (the chain's own result of step k-1, or
the start, and the number the question gives for that change) and get the arithmetic
right. The first step that fails is the first wrong step; a chain that stops short, runs
on, or states an answer its last step does not give is wrong at the step after its last.
Used by the scripted teacher (to answer) and by tests (to check what comes back).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from engine.lab.arith import ArithItem, apply, item_from

_STEP = re.compile(r"^\s*(?:[*#]+\s*)?step\s*(\d+)\s*[:.)]\s*(.*)$", re.IGNORECASE)
_NUM = r"-?\d[\d,]*"
_CALC = re.compile(rf"({_NUM})\s*([-+*x×·])\s*({_NUM})\s*=\s*({_NUM})")
_ANSWER = re.compile(r"the\s+(?:final\s+)?answer\s+is\s*:?\s*\$?\s*(-?\d[\d,]*)", re.IGNORECASE)
_TIMES = {"x": "*", "×": "*", "·": "*", "*": "*"}


@dataclass(frozen=True)
class Calc:
    """The calculation a step states."""

    a: int
    op: str
    b: int
    result: int


@dataclass(frozen=True)
class ChainStep:
    """One step as written: its number (if labelled), text, and calculation (if any)."""

    number: int | None
    text: str
    calc: Calc | None


@dataclass(frozen=True)
class Chain:
    steps: list[ChainStep]
    answer: int | None  # from the last "The answer is N"


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def find_calc(text: str) -> Calc | None:
    """The last ``a op b = c`` in a step's text."""
    found = _CALC.findall(text)
    if not found:
        return None
    a, op, b, c = found[-1]
    return Calc(_int(a), _TIMES.get(op, op), _int(b), _int(c))


def final_answer(text: str) -> int | None:
    found = _ANSWER.findall(text)
    return _int(found[-1]) if found else None


def parse_chain(text: str) -> Chain:
    """Steps ("Step k: ..." lines, continued on following lines) and the answer line."""
    steps: list[ChainStep] = []
    lines: list[str] = []
    number: int | None = None

    def close() -> None:
        body = " ".join(lines).strip()
        if body and not (_ANSWER.search(body) and not _CALC.search(body)):
            steps.append(ChainStep(number, body, find_calc(body)))

    for line in text.splitlines():
        mark = _STEP.match(line)
        if mark:
            if lines:
                close()
            number, lines = int(mark.group(1)), [mark.group(2)]
        elif _ANSWER.search(line):  # the answer line ends the steps; later lines are not steps
            if lines:
                close()
            lines = []
        elif lines and line.strip() and line.strip() not in "{}":
            lines.append(line.strip())
    if lines:
        close()
    return Chain(steps, final_answer(text))


@dataclass(frozen=True)
class ChainCheck:
    """The verdict on a chain: ``first_wrong`` is a 1-based step number, or None."""

    first_wrong: int | None
    reason: str
    verdicts: list[bool]  # per step as written, each judged on the chain's own earlier results

    @property
    def correct(self) -> bool:
        return self.first_wrong is None


def _as_item(item: ArithItem | Mapping[str, Any]) -> ArithItem:
    return item if isinstance(item, ArithItem) else item_from(item)


def step_verdict(item: ArithItem, k: int, calc: Calc | None, previous: int | None) -> str:
    """'' if step k (1-based) is right given the chain's previous result, else why not."""
    gold = item.steps[k - 1]
    if calc is None:
        return f"Step {k} has no calculation of the form a + b = c"
    want_a = gold.a if k == 1 or previous is None else previous
    if calc.op != gold.op:
        return (f"Step {k} uses {calc.op}, but the question calls for {gold.op} "
                f"{gold.b} here")
    got, want = (calc.a, calc.b), (want_a, gold.b)
    same = got == want or (gold.op != "-" and got == want[::-1])
    if not same and sorted(got) == sorted(want):
        return (f"Step {k} computes {calc.a} {calc.op} {calc.b}; it needs {want_a} {gold.op} "
                f"{gold.b} (the order matters for {gold.op})")
    if not same:
        wrong = next((n for n in got if n not in want), got[0])
        if wrong in item.distractors:
            where = "a number the question gives for something else"
        elif wrong in [s.b for s in item.steps] + [s.result for s in item.steps] + \
                [item.steps[0].a]:
            where = "a number that belongs to another step"
        else:
            where = "neither a number in the question nor an earlier result"
        return f"Step {k} uses {wrong}, {where}; it needs {want_a} {gold.op} {gold.b}"
    if apply(calc.a, calc.op, calc.b) != calc.result:
        return (f"Step {k}: {calc.a} {calc.op} {calc.b} is "
                f"{apply(calc.a, calc.op, calc.b)}, not {calc.result}")
    return ""


def check_steps(item: ArithItem | Mapping[str, Any], calcs: Sequence[Calc | None],
                answer: int | None) -> ChainCheck:
    """Judge the calculations of a chain, in order, and its final answer."""
    it = _as_item(item)
    verdicts: list[bool] = []
    reasons: list[str] = []
    previous: int | None = None
    for k, calc in enumerate(calcs, start=1):
        if k > len(it.steps):
            reasons.append(f"Step {k} comes after the last step the question needs "
                           f"(step {len(it.steps)})")
        else:
            reasons.append(step_verdict(it, k, calc, previous))
        verdicts.append(not reasons[-1])
        previous = calc.result if calc is not None else None
    first = next((k for k, ok in enumerate(verdicts, start=1) if not ok), None)
    if first is not None:
        return ChainCheck(first, reasons[first - 1], verdicts)
    n = len(calcs)
    if n < len(it.steps):
        return ChainCheck(n + 1, f"the chain stops after step {n}; the question needs "
                          f"{len(it.steps)} steps", verdicts)
    if answer is None:
        return ChainCheck(n + 1, "the chain has no final line 'The answer is N.'", verdicts)
    if answer != it.answer:
        return ChainCheck(n + 1, f"the final line says {answer}, but the last step gives "
                          f"{it.answer}", verdicts)
    return ChainCheck(None, "", verdicts)


def check_chain(item: ArithItem | Mapping[str, Any], text: str) -> ChainCheck:
    """Find exactly the first wrong step of a chain written in the step format."""
    chain = parse_chain(text)
    return check_steps(item, [s.calc for s in chain.steps], chain.answer)
