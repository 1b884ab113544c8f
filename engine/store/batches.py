"""Typed access to ``teacher_batches``: the teacher batch jobs a run's stages submitted.

A row is written as soon as the endpoint has accepted a batch, so a restart polls that
batch (``find``) instead of submitting the same requests again; ``mapped`` is set in the
transaction that writes the batch's answers to ``teacher_calls``. See
engine/teacher/batch.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.store.db import Store, from_json, now, to_json


@dataclass(frozen=True)
class BatchRow:
    id: int
    run_id: int | None
    stage: str | None
    batch_key: str
    endpoint: str
    batch_id: str
    status: str
    custom_ids: list[str]
    mapped: bool
    counts: dict[str, Any] | None
    error: str | None


_COLUMNS = ("id, run_id, stage, batch_key, endpoint, batch_id, status, custom_ids, mapped, "
            "counts, error")


def _row(r: Any) -> BatchRow:
    return BatchRow(int(r[0]), r[1], r[2], str(r[3]), str(r[4]), str(r[5]), str(r[6]),
                    list(from_json(r[7]) or []), bool(r[8]), from_json(r[9]), r[10])


def add(store: Store, *, run_id: int | None, stage: str | None, batch_key: str, endpoint: str,
        batch_id: str, input_file_id: str, status: str, custom_ids: list[str]) -> BatchRow:
    """Record a batch the endpoint accepted (commits at once, or joins an open transaction)."""
    with store.transaction():
        row_id = store.insert("teacher_batches", {
            "run_id": run_id, "stage": stage, "batch_key": batch_key, "endpoint": endpoint,
            "batch_id": batch_id, "input_file_id": input_file_id, "status": status,
            "custom_ids": to_json(custom_ids), "n_requests": len(custom_ids), "mapped": 0,
            "created_at": now()})
    found = get(store, row_id)
    assert found is not None
    return found


def get(store: Store, row_id: int) -> BatchRow | None:
    r = store.one(f"SELECT {_COLUMNS} FROM teacher_batches WHERE id = ?", (row_id,))
    return _row(r) if r is not None else None


def find(store: Store, run_id: int | None, stage: str | None, batch_key: str,
         endpoint: str) -> BatchRow | None:
    """The latest batch of these requests this run's stage submitted to ``endpoint``."""
    r = store.one(f"SELECT {_COLUMNS} FROM teacher_batches WHERE run_id IS ? AND stage IS ? "
                  "AND batch_key = ? AND endpoint = ? ORDER BY id DESC LIMIT 1",
                  (run_id, stage, batch_key, endpoint))
    return _row(r) if r is not None else None


def for_stage(store: Store, run_id: int | None, stage: str | None) -> list[BatchRow]:
    """Every batch of a run's stage, oldest first."""
    rows = store.query(f"SELECT {_COLUMNS} FROM teacher_batches WHERE run_id IS ? AND "
                       "stage IS ? ORDER BY id", (run_id, stage))
    return [_row(r) for r in rows]


def update(store: Store, row_id: int, **changes: Any) -> None:
    """Set columns of a batch row (status, output_file_id, counts, mapped, finished_at...)."""
    store.update("teacher_batches", row_id, changes)
