"""Typed access to studies and their runs (one row per arm and seed)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from dataclasses import dataclass
from typing import Any

from engine.store.db import Store, now

STUDY_STATUSES = ("pending", "running", "completed", "failed", "cancelled", "stopped")


@dataclass(frozen=True)
class Study:
    id: int
    name: str
    spec_yaml: str
    spec_hash: str
    spec_path: str | None
    status: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    error: str | None
    pid: int | None

    @property
    def alive(self) -> bool:
        """True when the study says 'running' and its process still exists on this machine."""
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
        """Status for people: a 'running' study whose process is gone is 'interrupted'."""
        if self.status == "running" and not self.alive:
            return "interrupted"
        return self.status


@dataclass(frozen=True)
class StudyRun:
    """One arm x seed of a study and the run that does it."""

    position: int
    arm: str
    seed: int
    run_id: int
    status: str  # the run's status, as people read it (interrupted for a dead 'running')


def _study(row: sqlite3.Row) -> Study:
    return Study(**{k: row[k] for k in Study.__dataclass_fields__})


def create_study(store: Store, *, name: str, spec_yaml: str, spec_path: str | None) -> int:
    """Record a study (its runs are added with ``add_run`` in the same transaction)."""
    return store.insert("studies", {
        "name": name, "spec_yaml": spec_yaml,
        "spec_hash": hashlib.sha256(spec_yaml.encode()).hexdigest(),
        "spec_path": spec_path, "status": "pending", "created_at": now()})


def add_run(store: Store, study_id: int, position: int, arm: str, seed: int, run_id: int) -> None:
    store.insert("study_runs", {"study_id": study_id, "position": position, "arm": arm,
                                "seed": seed, "run_id": run_id})


def get_study(store: Store, study_id: int) -> Study:
    row = store.one("SELECT * FROM studies WHERE id = ?", (study_id,))
    if row is None:
        raise KeyError(f"No study {study_id} in {store.path}. `distillab study list` lists them.")
    return _study(row)


def list_studies(store: Store, limit: int = 200) -> list[Study]:
    rows = store.query("SELECT * FROM studies ORDER BY id DESC LIMIT ?", (limit,))
    return [_study(r) for r in rows]


def set_study(store: Store, study_id: int, **changes: Any) -> None:
    if "status" in changes and changes["status"] not in STUDY_STATUSES:
        raise ValueError(f"unknown study status {changes['status']!r}")
    store.update("studies", study_id, changes)


def study_runs(store: Store, study_id: int) -> list[StudyRun]:
    """The study's arm x seed runs in the order they run, with each run's status."""
    from engine.store.runs import _run

    rows = store.query("SELECT s.position, s.arm, s.seed, r.* FROM study_runs s JOIN runs r ON "
                       "r.id = s.run_id WHERE s.study_id = ? ORDER BY s.position", (study_id,))
    return [StudyRun(int(r["position"]), str(r["arm"]), int(r["seed"]), int(r["id"]),
                     _run(r).shown_status) for r in rows]


def study_of_run(store: Store, run_id: int) -> tuple[int, str, int] | None:
    """(study id, arm, seed) of a run that belongs to a study, else None."""
    row = store.one("SELECT study_id, arm, seed FROM study_runs WHERE run_id = ?", (run_id,))
    return None if row is None else (int(row[0]), str(row[1]), int(row[2]))
