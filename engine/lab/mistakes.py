"""Realistic slips in a step chain: the mistakes the scripted teacher makes when told to.

``mistaken_steps(item, position, style, rng)`` puts one mistake at step ``position`` and
carries on correctly from the wrong value, the way a person who slipped once goes on,
so the final answer is wrong and the first wrong step is exactly ``position``. Styles:

- ``carry``: a carry or borrow forgotten (347 + 129 = 466), else one digit off;
- ``operation``: the wrong operation (+ for -, - for +, + for x);
- ``copy``: a wrong number copied: a distractor, another step's number, or the start
  again instead of the running total;
- ``mixed``: one of the three, at random.
"""

from __future__ import annotations

import random

from engine.lab.arith import ArithItem, Step, apply

STYLES = ("carry", "operation", "copy", "mixed")


def carry_places(a: int, op: str, b: int) -> list[int]:
    """Digit places (0 = ones) that send a carry (+, x) or take a borrow (-) to the next."""
    places, carry = [], 0
    x, y = abs(a), abs(b)
    place = 0
    while x or y or carry:
        da, db = x % 10, y % 10
        if op == "+":
            carry = 1 if da + db + carry >= 10 else 0
        elif op == "-":
            carry = 1 if da - carry < db else 0
        else:  # one-digit multiplier: the carry of da * b
            carry = (da * abs(b) + carry) // 10
            db = 0
        if carry:
            places.append(place)
        x, y, place = x // 10, (y // 10 if op != "*" else 0), place + 1
    return places


def carry_slip(step: Step, rng: random.Random) -> int:
    """The step's result with one carry or borrow forgotten (or one digit off)."""
    places = carry_places(step.a, step.op, step.b)
    if places:
        place = rng.choice(places)
        # a forgotten carry leaves the next place one short; a forgotten borrow, one over
        delta = -(10 ** (place + 1)) if step.op != "-" else 10 ** (place + 1)
    else:
        place = rng.randrange(max(1, len(str(abs(step.result)))))
        delta = rng.choice((-1, 1)) * 10 ** place
    wrong: int = step.result + delta
    return wrong if wrong >= 0 and wrong != step.result else step.result + int(10 ** place)


_SWAP = {"+": "-", "-": "+", "*": "+"}


def _copied(item: ArithItem, k: int, rng: random.Random) -> tuple[int, int] | None:
    """Operands (a, b) for step k with one number copied from the wrong place."""
    step = item.steps[k - 1]
    options: list[tuple[int, int]] = [(step.a, n) for n in item.distractors if n != step.b]
    options += [(step.a, s.b) for i, s in enumerate(item.steps) if i != k - 1
                and s.b != step.b and (s.op == "*") == (step.op == "*")]
    if k > 1 and item.steps[0].a != step.a:
        options.append((item.steps[0].a, step.b))  # the start again, not the running total
    if k > 1 and item.steps[k - 2].b != step.a:
        options.append((item.steps[k - 2].b, step.b))  # the last number, not its result
    return rng.choice(options) if options else None


def mistaken_steps(item: ArithItem, position: int, style: str, rng: random.Random,
                   ) -> list[Step] | None:
    """The gold steps with one ``style`` mistake at step ``position`` (1-based) and the rest
    carried on from the wrong value; None if that style cannot apply there."""
    if style not in STYLES:
        raise ValueError(f"unknown mistake style {style!r}: use one of {', '.join(STYLES)}")
    if style == "mixed":
        style = rng.choice(STYLES[:3])
    steps = list(item.steps[: position - 1])
    gold = item.steps[position - 1]
    if style == "carry":
        bad = Step(gold.a, gold.op, gold.b, carry_slip(gold, rng))
    elif style == "operation":
        op = _SWAP[gold.op]
        bad = Step(gold.a, op, gold.b, apply(gold.a, op, gold.b))
    else:
        copied = _copied(item, position, rng)
        if copied is None:
            return None
        bad = Step(copied[0], gold.op, copied[1], apply(copied[0], gold.op, copied[1]))
    if bad.result == gold.result or bad.result < 0:
        return None
    steps.append(bad)
    value = bad.result
    for later in item.steps[position:]:
        result = apply(value, later.op, later.b)
        steps.append(Step(value, later.op, later.b, result))
        value = result
    return steps if value != item.answer else None


def with_mistake(item: ArithItem, style: str, rng: random.Random,
                 first: int = 1) -> tuple[list[Step], int]:
    """A chain with one mistake at a random step from ``first`` on, and where it is.

    Tries every step (in random order) and every style before falling back to a carry
    slip in the last step, which always applies."""
    positions = list(range(first, len(item.steps) + 1))
    rng.shuffle(positions)
    for position in positions:
        for attempt in (style, "carry", "operation", "copy"):
            steps = mistaken_steps(item, position, attempt, rng)
            if steps is not None:
                return steps, position
    last = item.steps[-1]
    wrong = last.result + 1
    return [*item.steps[:-1], Step(last.a, last.op, last.b, wrong)], len(item.steps)
