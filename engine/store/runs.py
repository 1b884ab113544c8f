"""Typed access to runs, stages, finished units, metrics and artifacts."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.store.db import Store, from_json, now

RUN_STATUSES = ("pending", "running", "completed", "failed", "cancelled", "stopped")


@dataclass(frozen=True)
class Run:
    id: int
    name: str
    paradigm: str
    status: str
    seed: int
    recipe_yaml: str
    recipe_hash: str
    recipe_path: str | None
    dataset_id: int | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    error: str | None
    pid: int | None

    @property
    def alive(self) -> bool:
        """True when the run says 'running' and its process still exists on this machine."""
        if self.status != "running" or not self.pid:
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    @property
    def shown_status(self) -> str:
        """Status for people: a 'running' run whose process is gone is 'interrupted'."""
        if self.status == "running" and not self.alive:
            return "interrupted"
        return self.status


@dataclass(frozen=True)
class Stage:
    id: int
    run_id: int
    name: str
    position: int
    status: str
    done: int
    total: int
    started_at: str | None
    finished_at: str | None
    seconds: float
    error: str | None
    input_key: str | None = None  # content key of the stage's inputs (engine.studies.reuse)
    reused_from: int | None = None  # the run whose results this stage copied


def _run(row: sqlite3.Row) -> Run:
    return Run(**{k: row[k] for k in Run.__dataclass_fields__})


def _stage(row: sqlite3.Row) -> Stage:
    return Stage(**{k: row[k] for k in Stage.__dataclass_fields__})


def create_run(
    store: Store, *, name: str, paradigm: str, recipe_yaml: str, seed: int,
    recipe_path: str | None = None, teacher: Any = None, student: Any = None,
    stage_names: list[str],
) -> Run:
    """Record a new run with its recipe snapshot and its stages (all pending)."""
    recipe_hash = hashlib.sha256(recipe_yaml.encode()).hexdigest()
    with store.transaction():
        run_id = store.insert("runs", {
            "name": name, "paradigm": paradigm, "status": "pending", "seed": seed,
            "recipe_yaml": recipe_yaml, "recipe_hash": recipe_hash,
            "recipe_path": recipe_path, "teacher": teacher, "student": student,
            "created_at": now(),
        })
        for position, stage in enumerate(stage_names):
            store.insert("stages", {"run_id": run_id, "name": stage, "position": position,
                                    "status": "pending"})
    return get_run(store, run_id)


def get_run(store: Store, run_id: int) -> Run:
    row = store.one("SELECT * FROM runs WHERE id = ?", (run_id,))
    if row is None:
        raise KeyError(f"No run {run_id} in {store.path}. `distillab runs` lists the runs.")
    return _run(row)


def list_runs(store: Store, limit: int = 200) -> list[Run]:
    return [_run(r) for r in store.query("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,))]


def set_run(store: Store, run_id: int, **changes: Any) -> None:
    if "status" in changes and changes["status"] not in RUN_STATUSES:
        raise ValueError(f"unknown run status {changes['status']!r}")
    store.update("runs", run_id, changes)


def stages(store: Store, run_id: int) -> list[Stage]:
    rows = store.query("SELECT * FROM stages WHERE run_id = ? ORDER BY position", (run_id,))
    return [_stage(r) for r in rows]


def set_stage(store: Store, run_id: int, name: str, **changes: Any) -> None:
    sets = ", ".join(f"{c} = ?" for c in changes)
    store.conn.execute(f"UPDATE stages SET {sets} WHERE run_id = ? AND name = ?",
                       [*changes.values(), run_id, name])


def finished_units(store: Store, run_id: int, stage: str) -> set[str]:
    rows = store.query("SELECT unit_key FROM units WHERE run_id = ? AND stage = ?",
                       (run_id, stage))
    return {r[0] for r in rows}


def mark_unit(store: Store, run_id: int, stage: str, key: str) -> None:
    """Record a finished unit. Raises if it was already recorded (exactly-once guard)."""
    store.insert("units", {"run_id": run_id, "stage": stage, "unit_key": key,
                           "finished_at": now()})


def add_metric(store: Store, run_id: int, name: str, value: float, *,
               step: int | None = None, stage: str | None = None) -> None:
    store.insert("metrics", {"run_id": run_id, "stage": stage, "name": name, "step": step,
                             "value": float(value), "created_at": now()})


def metric_series(store: Store, run_id: int, name: str) -> list[tuple[int | None, float]]:
    rows = store.query(
        "SELECT step, value FROM metrics WHERE run_id = ? AND name = ? ORDER BY step, id",
        (run_id, name))
    return [(r[0], float(r[1])) for r in rows]


def latest_metrics(store: Store, run_id: int) -> dict[str, float]:
    """The last value of every metric of a run, by name."""
    rows = store.query(
        "SELECT name, value FROM metrics WHERE id IN "
        "(SELECT MAX(id) FROM metrics WHERE run_id = ? GROUP BY name) ORDER BY name",
        (run_id,))
    return {r[0]: float(r[1]) for r in rows}


def add_artifact(store: Store, run_id: int | None, kind: str, path: str | Path,
                 meta: dict[str, Any] | None = None) -> int:
    """Register a file (adapter, merged model, GGUF, export) with its size and sha256."""
    p = Path(path)
    digest = hashlib.sha256()
    size = 0
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
    for f in files:
        size += f.stat().st_size
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return store.insert("artifacts", {"run_id": run_id, "kind": kind, "path": str(p),
                                      "sha256": digest.hexdigest(), "bytes": size,
                                      "meta": meta, "created_at": now()})


def artifacts(store: Store, run_id: int) -> list[dict[str, Any]]:
    rows = store.query("SELECT * FROM artifacts WHERE run_id = ? ORDER BY id", (run_id,))
    return [{**dict(r), "meta": from_json(r["meta"])} for r in rows]
