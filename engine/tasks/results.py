"""Per-item, per-sample verdicts into the ``evaluations`` table, and summaries back out.

One row per (item, sample): ``passed``, ``score``, ``time_s`` and ``details`` (predicted,
gold, and for code: status, failing test, error, stdout/stderr excerpts). Summaries give
accuracy with a Wilson interval and solve@k with a bootstrap interval over items.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from engine.metrics import Estimate, accuracy, pass_at_k_ci
from engine.store import Store, traces
from engine.tasks.base import Verdict


def record(store: Store, *, run_id: int, stage: str, item_id: int | None, verdict: Verdict,
           sample_index: int = 0, trace_id: int | None = None) -> int:
    """Store one verdict as an ``evaluations`` row; returns its id."""
    details = verdict.as_details()
    time_s = details.get("time_s")
    return traces.add_evaluation(
        store, run_id=run_id, stage=stage, item_id=item_id, passed=verdict.passed,
        trace_id=trace_id, sample_index=sample_index, score=verdict.score, details=details,
        time_s=float(time_s) if isinstance(time_s, int | float) else None)


def sample_counts(store: Store, run_id: int, stage: str) -> dict[int | None, tuple[int, int]]:
    """Per item: (samples evaluated, samples passed)."""
    counts: dict[int | None, list[int]] = defaultdict(lambda: [0, 0])
    for row in traces.evaluations(store, run_id, stage):
        if row["passed"] is None:
            continue
        c = counts[row["item_id"]]
        c[0] += 1
        c[1] += int(row["passed"])
    return {item: (n, ok) for item, (n, ok) in counts.items()}


def summarize(store: Store, run_id: int, stage: str, ks: Sequence[int] = (1, 5, 10),
              confidence: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Accuracy of sample 0 per item (Wilson) and solve@k for each k every item has
    samples for (bootstrap over items), with the sample counts behind them."""
    counts = sample_counts(store, run_id, stage)
    first = [bool(row["passed"]) for row in traces.evaluations(store, run_id, stage)
             if row["sample_index"] == 0 and row["passed"] is not None]
    smallest = min((n for n, _ in counts.values()), default=0)
    solve: dict[int, Estimate] = {
        k: pass_at_k_ci(list(counts.values()), k, confidence, seed=seed)
        for k in ks if 1 <= k <= smallest}
    return {"items": len(counts), "samples_per_item": smallest, "seed": seed,
            "accuracy": accuracy(first, confidence), "solve_at_k": solve}
