"""Typed access to traces and their steps, preference pairs, evaluations and data sets.

Paging uses keyset pagination (``id > last_id``), so showing page 5,000 of a table of
100k traces costs the same as page 1, also while a job is writing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.store.db import Store, from_json, now


@dataclass(frozen=True)
class StepIn:
    """A step to store with a trace."""

    text: str
    kind: str = "step"
    verdict: str = "unknown"
    verdict_by: str | None = None
    metrics: dict[str, Any] | None = None


@dataclass(frozen=True)
class Step:
    id: int
    trace_id: int
    idx: int
    kind: str
    text: str
    verdict: str
    verdict_by: str | None
    metrics: dict[str, Any] | None


@dataclass(frozen=True)
class Trace:
    id: int
    run_id: int
    stage: str
    item_id: int | None
    role: str
    model: str | None
    prompt: str | None
    output: str | None
    parsed: Any
    tokens_in: int | None
    tokens_out: int | None
    latency_s: float | None
    cost_usd: float | None
    parent_id: int | None
    sample_index: int
    score: float | None
    verdict: str | None
    flag: str | None
    created_at: str
    copied_from: int | None = None  # the original trace, when a reused stage copied it
    steps: list[Step] = field(default_factory=list)


def _trace(row: sqlite3.Row, steps: list[Step] | None = None) -> Trace:
    values = {k: row[k] for k in Trace.__dataclass_fields__ if k != "steps"}
    values["parsed"] = from_json(values["parsed"])
    return Trace(**values, steps=steps or [])


def _step(row: sqlite3.Row) -> Step:
    values = {k: row[k] for k in Step.__dataclass_fields__}
    values["metrics"] = from_json(values["metrics"])
    return Step(**values)


def add_trace(
    store: Store, *, run_id: int, stage: str, role: str, output: str,
    item_id: int | None = None, model: str | None = None, prompt: str | None = None,
    parsed: Any = None, tokens_in: int | None = None, tokens_out: int | None = None,
    latency_s: float | None = None, cost_usd: float | None = None,
    parent_id: int | None = None, sample_index: int = 0, score: float | None = None,
    verdict: str | None = None, flag: str | None = None, steps: Sequence[StepIn] = (),
) -> int:
    """Store one generated text and its steps atomically; returns the trace id."""
    with store.transaction():
        trace_id = store.insert("traces", {
            "run_id": run_id, "stage": stage, "item_id": item_id, "role": role,
            "model": model, "prompt": prompt, "output": output,
            "parsed": None if parsed is None else parsed,
            "tokens_in": tokens_in, "tokens_out": tokens_out, "latency_s": latency_s,
            "cost_usd": cost_usd, "parent_id": parent_id, "sample_index": sample_index,
            "score": score, "verdict": verdict, "flag": flag, "created_at": now(),
        })
        for idx, step in enumerate(steps):
            store.insert("steps", {
                "trace_id": trace_id, "idx": idx, "kind": step.kind, "text": step.text,
                "verdict": step.verdict, "verdict_by": step.verdict_by,
                "metrics": step.metrics,
            })
    return trace_id


def get_trace(store: Store, trace_id: int) -> Trace:
    row = store.one("SELECT * FROM traces WHERE id = ?", (trace_id,))
    if row is None:
        raise KeyError(f"No trace {trace_id} in {store.path}")
    steps = [_step(r) for r in store.query(
        "SELECT * FROM steps WHERE trace_id = ? ORDER BY idx", (trace_id,))]
    return _trace(row, steps)


def page_traces(
    store: Store, *, after_id: int = 0, limit: int = 200, run_id: int | None = None,
    stage: str | None = None, role: str | None = None, verdict: str | None = None,
    item_id: int | None = None, search: str | None = None,
) -> list[Trace]:
    """One page of traces (without steps) in id order, filtered; pass the last id to go on."""
    where = ["id > ?"]
    params: list[Any] = [after_id]
    for column, value in (("run_id", run_id), ("stage", stage), ("role", role),
                          ("verdict", verdict), ("item_id", item_id)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if search:
        where.append("output LIKE ?")
        params.append(f"%{search}%")
    rows = store.query(
        f"SELECT * FROM traces WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
        [*params, limit])
    return [_trace(r) for r in rows]


def count_traces(store: Store, run_id: int, stage: str | None = None) -> int:
    if stage is None:
        row = store.one("SELECT COUNT(*) FROM traces WHERE run_id = ?", (run_id,))
    else:
        row = store.one("SELECT COUNT(*) FROM traces WHERE run_id = ? AND stage = ?",
                        (run_id, stage))
    return int(row[0]) if row else 0


def set_step_verdict(store: Store, step_id: int, verdict: str, by: str,
                     metrics: dict[str, Any] | None = None) -> None:
    changes: dict[str, Any] = {"verdict": verdict, "verdict_by": by}
    if metrics is not None:
        changes["metrics"] = metrics
    store.update("steps", step_id, changes)


def add_pair(store: Store, *, run_id: int, stage: str, prompt: str, chosen: str,
             rejected: str, item_id: int | None = None, chosen_trace_id: int | None = None,
             rejected_trace_id: int | None = None, meta: dict[str, Any] | None = None) -> int:
    return store.insert("pairs", {
        "run_id": run_id, "stage": stage, "item_id": item_id, "prompt": prompt,
        "chosen": chosen, "rejected": rejected, "chosen_trace_id": chosen_trace_id,
        "rejected_trace_id": rejected_trace_id, "meta": meta})


def add_evaluation(store: Store, *, run_id: int, stage: str, item_id: int | None,
                   passed: bool | None, trace_id: int | None = None, sample_index: int = 0,
                   score: float | None = None, details: dict[str, Any] | None = None,
                   time_s: float | None = None) -> int:
    return store.insert("evaluations", {
        "run_id": run_id, "stage": stage, "item_id": item_id, "trace_id": trace_id,
        "sample_index": sample_index, "passed": None if passed is None else int(passed),
        "score": score, "details": details, "time_s": time_s})


def evaluations(store: Store, run_id: int, stage: str | None = None) -> list[dict[str, Any]]:
    sql = "SELECT * FROM evaluations WHERE run_id = ?"
    params: list[Any] = [run_id]
    if stage is not None:
        sql += " AND stage = ?"
        params.append(stage)
    rows = store.query(sql + " ORDER BY id", params)
    return [{**dict(r), "details": from_json(r["details"])} for r in rows]
