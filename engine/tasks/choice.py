"""Multiple choice (AQuA): the chosen letter, or else the option whose text is closest.

Options come as ``["A)21", "B)21.5", ...]`` (AQuA) or as plain texts (lettered A, B, ...
in order). The letter is read from "answer is (C)", "Answer: C", "(C)" or a lone capital
letter at the end; failing that, the final answer text is matched to the nearest option
(exact number match first, then string similarity).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from engine.tasks.base import Task, Verdict
from engine.tasks.extract import answer_is
from engine.tasks.numbers import last_number, value

LETTERS = "ABCDEFGHIJ"
MAX_READ = 20_000  # characters read from the end of a reply (bounds the time on huge replies)
MAX_FINAL = 500  # characters of the final answer matched against the option texts
_OPTION = re.compile(r"^\s*\(?([A-J])\s*[).:]\s*(.*)$", re.DOTALL)
# keywords in any case, the letter itself a capital ("the answer is a ..." is no letter)
_STATED = re.compile(r"(?i:answer|option|choice)\s*(?i:is|:)?\s*(?i:option\s*)?[(\[]?\s*([A-J])\b")
_PAREN = re.compile(r"\(([A-J])\)")
_LONE = re.compile(r"(?:^|\s)([A-J])[).:]?\s*$")


def split_options(options: Sequence[str]) -> dict[str, str]:
    """Letter -> option text (``"A)21"`` -> ``{"A": "21"}``; plain texts are lettered in order)."""
    out = {}
    for i, opt in enumerate(options):
        m = _OPTION.match(str(opt))
        if m:
            out[m.group(1)] = m.group(2).strip()
        else:
            out[LETTERS[i]] = str(opt).strip()
    return out


class ChoiceTask(Task):
    """Letter match, or the nearest option text."""

    kind: ClassVar[str] = "choice"
    FIELDS: ClassVar[tuple[str, ...]] = ("answer", "options")

    def extract(self, text: str) -> str | None:
        text = text[-MAX_READ:]
        stated = _STATED.findall(text)
        if stated:
            return str(stated[-1])
        paren = _PAREN.findall(text)
        if paren:
            return str(paren[-1])
        lone = _LONE.search(text.strip())
        return lone.group(1) if lone else None

    def nearest_option(self, text: str, options: Mapping[str, str]) -> str | None:
        """The letter of the option closest to the final answer in ``text``."""
        text = text[-MAX_READ:]
        final = (answer_is(text) or (text.strip().splitlines() or [""])[-1])[:MAX_FINAL]
        number = last_number(final)
        if number is not None:
            wanted = value(number)
            hits = [k for k, v in options.items()
                    if (n := last_number(v)) is not None and wanted is not None
                    and (got := value(n)) is not None and got.value == wanted.value]
            if len(hits) == 1:
                return hits[0]
        scored = [(difflib.SequenceMatcher(None, final.lower(), v.lower()).ratio(), k)
                  for k, v in options.items()]
        best = max(scored, default=(0.0, None))
        return best[1] if best[0] >= 0.5 else None

    def verify(self, prediction: str, fields: Mapping[str, Any]) -> Verdict:
        options = split_options(fields.get("options") or [])
        gold = str(fields["answer"]).strip().upper()[:1] or None
        predicted = self.extract(prediction)
        how = "letter"
        if options and predicted not in options:  # "the answer is I only": not a letter here
            predicted = None
        if predicted is None and options:
            predicted = self.nearest_option(prediction, options)
            how = "nearest option"
        return Verdict(predicted is not None and predicted == gold, predicted, gold,
                       {"matched_by": how})
