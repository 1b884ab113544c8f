"""Per-example training weights of the explain paradigm (the paper favours simpler, newer problems).

Pure functions of the training records; the ``weight`` stage stores one per item.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

DEFAULT_DIFFICULTY = {"easy": 1.0, "medium": 0.75, "hard": 0.5}


def _when(value: Any) -> float | None:
    """A date (YYYY-MM[-DD]) as its ordinal, or a number as itself (e.g. LeetCode's
    question_id, which grows with time): only the order matters."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = re.match(r"(\d{4})-(\d{2})(?:-(\d{2}))?", str(value or ""))
    if not match:
        return None
    return float(date(int(match.group(1)), int(match.group(2)),
                      int(match.group(3) or 1)).toordinal())


def weights(records: list[dict[str, Any]], scheme: str, *, difficulty_field: str = "difficulty",
            date_field: str = "date", difficulty_weights: dict[str, float] | None = None,
            recency_floor: float = 0.5) -> list[tuple[float, str]]:
    """Per-example training weights and a reason each, normalised to mean 1.

    - uniform: 1 for all;
    - difficulty: easy 1.0, medium 0.75, hard 0.5 by default (the paper favours simpler);
    - recency: linear in the date's rank from ``recency_floor`` (oldest) to 1 (newest); the
      date field may hold a date or a number that grows with time (e.g. a question id);
    - difficulty_recency: the product. Items lacking a field get that factor 1.
    """
    table = {k.lower(): v for k, v in (difficulty_weights or DEFAULT_DIFFICULTY).items()}
    dates = [_when(r.get(date_field)) for r in records]
    known = sorted({d for d in dates if d is not None})
    rank = {d: i for i, d in enumerate(known)}
    raw: list[tuple[float, str]] = []
    for record, when in zip(records, dates, strict=True):
        w, why = 1.0, []
        if scheme in ("difficulty", "difficulty_recency"):
            level = str(record.get(difficulty_field, "")).lower()
            factor = table.get(level, 1.0)
            w *= factor
            why.append(f"difficulty {level or '?'} x{factor:g}")
        if scheme in ("recency", "difficulty_recency"):
            if when is not None and len(known) > 1:
                factor = recency_floor + (1 - recency_floor) * rank[when] / (len(known) - 1)
            else:
                factor = 1.0
            w *= factor
            shown = record.get(date_field, "?")
            why.append(f"{date_field} {shown} x{factor:.2f}")
        raw.append((w, ", ".join(why) or "uniform"))
    mean = sum(w for w, _ in raw) / len(raw) if raw else 1.0
    return [(w / mean, why) for w, why in raw]
