"""What every task kind offers: ``extract(text)`` and ``verify(prediction, fields) -> Verdict``.

A paradigm stage gets a task with ``engine.tasks.get_task(kind)`` and calls ``verify`` (or
``verify_many`` for a batch, which code tasks run in parallel in the sandbox). ``fields``
is an item's data after the recipe's field mapping; each kind names the fields it reads
in ``FIELDS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking one prediction: what was predicted, against what, and why."""

    passed: bool
    predicted: str | None
    gold: str | None
    details: dict[str, Any] = field(default_factory=dict)
    score: float | None = None  # graded kinds (overlap, judge); None for pass/fail kinds

    def as_details(self) -> dict[str, Any]:
        """The JSON stored in ``evaluations.details``."""
        return {"predicted": self.predicted, "gold": self.gold, **self.details}


class Task:
    """Base of the task kinds: subclasses set ``kind``/``FIELDS`` and define the two methods."""

    kind: ClassVar[str] = ""
    FIELDS: ClassVar[tuple[str, ...]] = ()  # item fields verify() reads

    def extract(self, text: str) -> str | None:
        raise NotImplementedError

    def verify(self, prediction: str, fields: Mapping[str, Any]) -> Verdict:
        raise NotImplementedError

    def verify_many(self, predictions: Sequence[str], fields: Sequence[Mapping[str, Any]],
                    on_progress: Progress | None = None) -> list[Verdict]:
        """Verify pairs (prediction i against fields i); one by one unless a kind batches."""
        if len(predictions) != len(fields):
            raise ValueError(f"{len(predictions)} predictions for {len(fields)} items")
        out = []
        for i, (p, f) in enumerate(zip(predictions, fields, strict=True)):
            out.append(self.verify(p, f))
            if on_progress is not None:
                on_progress(i + 1, len(predictions))
        return out


def answer_or_text(extracted: str | None, text: str) -> str | None:
    """What to compare: the extracted answer; failing that, the text itself when it is short
    enough to be an answer already (at most 100 characters)."""
    if extracted is not None:
        return extracted
    stripped = text.strip()
    if stripped and len(stripped) <= 100:
        return stripped
    return None
