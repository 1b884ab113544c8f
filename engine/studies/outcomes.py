"""Per-item outcomes of a study's runs, read from the store.

An item's value for a metric comes from its rows in ``evaluations`` (one per sample):
``accuracy`` is its pass rate, ``score`` its mean score, ``solve@k`` / ``pass@k`` its
unbiased P_i = 1 - C(n-c, k)/C(n, k) from n samples of which c passed. Items are matched
across runs by content hash, so two arms of one seed pair up on the same items. With
``by`` (a key of the evaluations' details, e.g. round) every value of that key is a group
of its own. ``metric:NAME`` reads one run-level number per run instead.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any, NamedTuple

from engine.metrics import pass_at_k
from engine.store import Store, from_json

_AT_K = re.compile(r"^(solve|pass)@(\d+)$")


class ItemValue(NamedTuple):
    """An item's value in one run (a tuple: a study builds tens of thousands at once)."""

    item_hash: str
    item_id: int
    value: float
    samples: int
    trace_id: int | None  # the trace the evaluation of the item's first sample judged


def evaluating_stage(store: Store, run_id: int) -> str | None:
    """The last stage of the run (by position) that stored evaluations."""
    row = store.one("SELECT s.name FROM stages s WHERE s.run_id = ? AND EXISTS (SELECT 1 FROM "
                    "evaluations e WHERE e.run_id = s.run_id AND e.stage = s.name) "
                    "ORDER BY s.position DESC LIMIT 1", (run_id,))
    return None if row is None else str(row[0])


def _value(metric: str, n: int, passed: int, score: float | None) -> float | None:
    """An item's value from its n judged samples (``passed`` of them passed; mean score)."""
    if metric == "accuracy":
        return passed / n if n else None
    if metric == "score":
        return score
    match = _AT_K.match(metric)
    if match is None:
        raise ValueError(f"not a per-item metric: {metric!r}")
    k = int(match.group(2))
    if n < k:
        return None  # too few samples for this k: the item is left out
    return pass_at_k(n, passed, k)


def item_values(store: Store, run_ids: list[int], metric: str, stage: str | None,
                by: str | None = None) -> dict[int, dict[str | None, dict[str, ItemValue]]]:
    """run -> group -> item hash -> value (group None without ``by``), for several runs,
    counted in SQL: one query per evaluating stage."""
    stages: dict[str, list[int]] = defaultdict(list)
    for run_id in run_ids:
        found = stage or evaluating_stage(store, run_id)
        if found is not None:
            stages[found].append(run_id)
    out: dict[int, dict[str | None, dict[str, ItemValue]]] = {r: {} for r in run_ids}
    for stage_name, ids in stages.items():
        group_sql = "json_extract(e.details, ?)" if by else "NULL"
        params: list[Any] = ([f"$.{by}"] if by else []) + [stage_name, *ids]
        rows = store.tuples(
            f"SELECT e.run_id, {group_sql} AS grp, e.item_id, i.item_hash, COUNT(e.passed), "
            # with one MIN() in the query, SQLite takes the bare e.trace_id from the row of
            # the lowest sample index: the trace of the item's first sample in the group
            "COALESCE(SUM(e.passed), 0), AVG(e.score), MIN(e.sample_index), e.trace_id, "
            "COUNT(*) "
            "FROM evaluations e JOIN items i ON i.id = e.item_id WHERE e.stage = ? "
            f"AND e.run_id IN ({','.join('?' * len(ids))}) "
            "GROUP BY e.run_id, grp, e.item_id", params)
        for run_id, group, item_id, item_hash, n, passed, score, _, trace_id, samples in rows:
            value = _value(metric, int(n), int(passed), score)
            if value is None:
                continue
            key = None if group is None else str(group)
            out[run_id].setdefault(key, {})[item_hash] = ItemValue(
                item_hash, int(item_id), float(value), int(samples),
                None if trace_id is None else int(trace_id))
    return out


def run_metric(store: Store, run_id: int, name: str) -> float | None:
    """The last value of a run-level metric (``metric:NAME`` comparisons)."""
    row = store.one("SELECT value FROM metrics WHERE run_id = ? AND name = ? "
                    "ORDER BY id DESC LIMIT 1", (run_id, name))
    return None if row is None else float(row[0])


def measure(store: Store, run_id: int, source: str, stage: str, field: str,
            role: str | None = None) -> dict[str, float]:
    """Item hash -> the mean of one column over the item's rows (for correlations)."""
    if source == "evaluations":
        sql = (f"SELECT i.item_hash, AVG(e.{field}) FROM evaluations e JOIN items i ON "
               "i.id = e.item_id WHERE e.run_id = ? AND e.stage = ?")
    else:
        sql = (f"SELECT i.item_hash, AVG(e.{field}) FROM traces e JOIN items i ON "
               "i.id = e.item_id WHERE e.run_id = ? AND e.stage = ?")
    params: list[Any] = [run_id, stage]
    if role is not None and source == "traces":
        sql += " AND e.role = ?"
        params.append(role)
    rows = store.query(sql + f" AND e.{field} IS NOT NULL GROUP BY i.item_hash", params)
    return {str(h): float(v) for h, v in rows}


def item_labels(store: Store, item_ids: list[int]) -> dict[int, str]:
    """A one-line label per item (its question or problem, cut short)."""
    out: dict[int, str] = {}
    for start in range(0, len(item_ids), 500):
        chunk = item_ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for item_id, data in store.query(f"SELECT id, data FROM items WHERE id IN ({marks})",
                                         chunk):
            fields = from_json(data) or {}
            text = str(fields.get("question") or fields.get("problem") or fields.get("prompt")
                       or next(iter(fields.values()), ""))
            out[int(item_id)] = " ".join(text.split())[:140]
    return out
