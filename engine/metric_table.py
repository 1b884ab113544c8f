"""A run's metrics as a table a person reads: one row per metric, its 95% interval beside
its value (``X_ci_low`` / ``X_ci_high`` and the count ``X_n`` folded into X's row), grouped
into evaluation, training and cost. The Runs and Compare views show these rows.

A metric's value is its latest one, except ``cost/*``: each of those values is what one
piece of work spent, so a run's cost is their sum (engine/stage.py records them so).
Knows nothing of Qt or of the store.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

GROUPS = ("evaluation", "training", "cost")
_TRAINING = ("loss", "lr", "learning_rate", "grad_norm", "eta_s", "tokens_per_s", "epoch")
_FOLDED = re.compile(r"^(?P<base>.+)_(?P<part>ci_low|ci_high|n)$")


@dataclass(frozen=True)
class MetricRow:
    group: str
    name: str
    value: float
    low: float | None = None
    high: float | None = None
    n: int | None = None

    @property
    def ci(self) -> str:
        """The interval as text, '' when the metric has none."""
        if self.low is None or self.high is None:
            return ""
        return f"[{fmt(self.low)} – {fmt(self.high)}]"


def group_of(name: str) -> str:
    last = name.rsplit("/", 1)[-1]
    if name.startswith(("cost/", "teacher_")):
        return "cost"
    if name.startswith("train/") or last.endswith("loss") or last in _TRAINING:
        return "training"
    return "evaluation"


def values(points: Iterable[tuple[str, float]]) -> dict[str, float]:
    """name -> value from (name, value) in arrival order: the latest, summed for cost/*."""
    out: dict[str, float] = {}
    for name, value in points:
        out[name] = out.get(name, 0.0) + value if name.startswith("cost/") else value
    return out


def rows(metrics: dict[str, float]) -> list[MetricRow]:
    """Rows in group order (evaluation, training, cost), by name within a group."""
    folded: dict[str, dict[str, float]] = {}
    for name, value in metrics.items():
        m = _FOLDED.match(name)
        if m and m.group("base") in metrics:
            folded.setdefault(m.group("base"), {})[m.group("part")] = value
    out = []
    for name, value in metrics.items():
        m = _FOLDED.match(name)
        if m and m.group("base") in metrics:
            continue
        extra = folded.get(name, {})
        n = extra.get("n")
        out.append(MetricRow(group_of(name), name, value, extra.get("ci_low"),
                             extra.get("ci_high"), int(n) if n is not None else None))
    return sorted(out, key=lambda r: (GROUPS.index(r.group), sort_key(r.name)))


def fmt(value: float) -> str:
    """Four significant digits; whole numbers with thousands separators."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:.4g}"


def sort_key(name: str) -> list[tuple[int, int | str]]:
    """Sort key putting solve@2 before solve@10."""
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", name)]
