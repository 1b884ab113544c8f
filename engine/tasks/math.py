"""Math task kinds: GSM8K-style numbers and MATH-style ``\\boxed{}`` answers.

``math_number`` (alias ``gsm8k``): the number after ``####``, else after the last "The
answer is", else the last number (:mod:`engine.tasks.numbers`); compared exactly, floats
within their binary noise. ``math_boxed``: the last ``\\boxed{}`` (else "The answer is"),
compared by :func:`engine.tasks.mathanswer.equal`: exact values, structure (lists,
intervals, matrices, equations), sympy under a time limit; when the item's ``question``
asks for a rounded answer ("to the nearest tenth"), within half a unit of the gold's last
digit. Gold answers may be given bare or as a whole worked solution; a gold given as a float
is its value (never its printed exponent), compared within binary noise.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

from engine.tasks.base import Task, Verdict, answer_or_text
from engine.tasks.extract import answer_is, last_boxed
from engine.tasks.mathanswer import ROUNDED, equal
from engine.tasks.numbers import gold_value, read_answer, same, value


class MathNumberTask(Task):
    """GSM8K: a single number."""

    kind: ClassVar[str] = "math_number"
    FIELDS: ClassVar[tuple[str, ...]] = ("answer",)

    def extract(self, text: str) -> str | None:
        return read_answer(text)

    def verify(self, prediction: str, fields: Mapping[str, Any]) -> Verdict:
        gold, gold_number = gold_value(fields["answer"])
        predicted = self.extract(prediction)
        number = value(predicted) if predicted is not None else None
        passed = number is not None and gold_number is not None and same(number, gold_number)
        return Verdict(passed, predicted, gold)


class MathBoxedTask(Task):
    """MATH: the last ``\\boxed{}``; the same answer written any equivalent way."""

    kind: ClassVar[str] = "math_boxed"
    FIELDS: ClassVar[tuple[str, ...]] = ("answer", "question")

    def extract(self, text: str) -> str | None:
        boxed = last_boxed(text)
        if boxed is not None:
            return boxed.strip()
        stated = answer_is(text)
        return stated.strip("$ ") if stated else None

    def verify(self, prediction: str, fields: Mapping[str, Any]) -> Verdict:
        predicted = answer_or_text(self.extract(prediction), prediction)
        raw = fields["answer"]
        if isinstance(raw, float):  # a float gold: its value, binary noise and all (as gsm8k)
            shown, gold_number = gold_value(raw)
            number = value(predicted) if predicted is not None else None
            if number is not None and gold_number is not None:
                return Verdict(same(number, gold_number), predicted, shown)
            raw = format(Decimal(repr(raw)), "f")  # 2.0107e-06 -> 0.0000020107 for LaTeX forms
        gold_text = str(raw)
        gold = answer_or_text(last_boxed(gold_text), gold_text)
        if predicted is None or gold is None:
            return Verdict(False, predicted, gold)
        rounded = ROUNDED.search(str(fields.get("question") or "")) is not None
        out = equal(predicted, gold, rounded)
        return Verdict(out.equal, predicted, gold, {"reason": out.reason} if out.reason else {})
