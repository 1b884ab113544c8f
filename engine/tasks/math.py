"""Math task kinds: GSM8K-style numbers and MATH-style ``\\boxed{}`` answers.

``math_number`` (alias ``gsm8k``): the answer is ``#### N``, else the last "The answer is N",
else the last number; compared as exact fractions (``1,234`` = ``1234.0``). ``math_boxed``:
the last ``\\boxed{}``, normalised, with numeric and sympy equivalence as fallbacks.
Gold answers may be given bare or as a whole worked solution (extracted the same way).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.tasks.base import Task, Verdict, answer_or_text
from engine.tasks.extract import answer_is, last_boxed, last_number, math_equal, to_number

_HASHES = re.compile(r"####\s*([^\n]+)")


class MathNumberTask(Task):
    """GSM8K: a single number."""

    kind: ClassVar[str] = "math_number"
    FIELDS: ClassVar[tuple[str, ...]] = ("answer",)

    def extract(self, text: str) -> str | None:
        hashes = _HASHES.findall(text)
        if hashes:
            return last_number(hashes[-1])
        stated = answer_is(text)
        if stated is not None and last_number(stated) is not None:
            return last_number(stated)
        return last_number(text)

    def verify(self, prediction: str, fields: Mapping[str, Any]) -> Verdict:
        gold = self.extract(str(fields["answer"]))
        predicted = self.extract(prediction)
        a = to_number(predicted) if predicted is not None else None
        b = to_number(gold) if gold is not None else None
        return Verdict(a is not None and a == b, predicted, gold)


class MathBoxedTask(Task):
    """MATH: the last ``\\boxed{}``; equal after normalisation, numerically, or by sympy."""

    kind: ClassVar[str] = "math_boxed"
    FIELDS: ClassVar[tuple[str, ...]] = ("answer",)

    def extract(self, text: str) -> str | None:
        boxed = last_boxed(text)
        if boxed is not None:
            return boxed.strip()
        stated = answer_is(text)
        return stated.strip("$ ") if stated else None

    def verify(self, prediction: str, fields: Mapping[str, Any]) -> Verdict:
        gold_text = str(fields["answer"])
        gold = answer_or_text(last_boxed(gold_text), gold_text)
        predicted = answer_or_text(self.extract(prediction), prediction)
        passed = predicted is not None and gold is not None and math_equal(predicted, gold)
        return Verdict(passed, predicted, gold)
