"""Yes/no questions (StrategyQA): the first yes/no word of the reply.

A stated "the answer is yes/no" wins over the first yes/no word. Gold may be ``"Yes"``,
``"No. Because ..."`` (BIG-bench ``target``), a boolean, or ``{"Yes": 1, "No": 0}``
(``target_scores``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from engine.tasks.base import Task, Verdict

_WORD = re.compile(r"\b(yes|no|true|false)\b", re.IGNORECASE)
_STATED = re.compile(r"answer\s*(?:is|:)\s*\**\s*(yes|no|true|false)\b", re.IGNORECASE)
_CANON = {"yes": "yes", "true": "yes", "no": "no", "false": "no"}


def gold_yes_no(value: Any) -> str | None:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        best = max(value.items(), key=lambda kv: kv[1], default=None)
        return _CANON.get(str(best[0]).lower()) if best else None
    m = _WORD.search(str(value))
    return _CANON[m.group(1).lower()] if m else None


class YesNoTask(Task):
    kind: ClassVar[str] = "yesno"
    FIELDS: ClassVar[tuple[str, ...]] = ("answer",)

    def extract(self, text: str) -> str | None:
        stated = _STATED.findall(text)
        if stated:
            return _CANON[stated[-1].lower()]
        m = _WORD.search(text)
        return _CANON[m.group(1).lower()] if m else None

    def verify(self, prediction: str, fields: Mapping[str, Any]) -> Verdict:
        gold = gold_yes_no(fields["answer"])
        predicted = self.extract(prediction)
        return Verdict(predicted is not None and predicted == gold, predicted, gold)
