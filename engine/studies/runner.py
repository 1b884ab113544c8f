"""Runs a study: its runs (one per arm and seed) are created with it in one transaction,
then each unfinished run is executed in order, with stage reuse on.

Resuming skips completed runs and resumes an interrupted one from its last finished unit
(the run's own resume), so after a ``kill -9`` nothing is made or computed twice. Cancel is
the runs' cooperative cancel; the study stops with the run's status (cancelled, stopped,
failed) and `distillab study resume N` goes on. Knows nothing of Qt.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from engine import events as ev
from engine import runner
from engine.errors import DistillabError
from engine.store import Store, now, runs, studies
from engine.studies.spec import LoadedStudy

EventSink = Callable[[ev.Event], None]
CancelCheck = Callable[[], bool]


def create(store: Store, loaded: LoadedStudy) -> int:
    """Record a study and all its runs (pending), atomically; returns the study id."""
    with store.transaction():
        study_id = studies.create_study(store, name=loaded.study.name, spec_yaml=loaded.text,
                                        spec_path=loaded.source)
        for position, arm_run in enumerate(loaded.runs):
            run_id = runner.create(store, arm_run.loaded)
            studies.add_run(store, study_id, position, arm_run.arm, arm_run.seed, run_id)
    return study_id


def execute(store: Store, study_id: int, *, on_event: EventSink | None = None,
            cancelled: CancelCheck | None = None) -> str:
    """Run every unfinished run of the study in order; returns the study's final status."""
    emit = on_event or (lambda e: None)
    check = cancelled or (lambda: False)
    study = studies.get_study(store, study_id)
    t0 = time.monotonic()
    rows = studies.study_runs(store, study_id)
    done = sum(1 for r in rows if r.status == "completed")
    studies.set_study(store, study_id, status="running", pid=os.getpid(), error=None,
                      started_at=study.started_at or now(), finished_at=None)
    emit(ev.StudyStarted(0, study_id, study.name, str(store.path), len(rows), done,
                         study.started_at is not None))
    try:
        for row in rows:
            if row.status == "completed":
                continue
            if check():
                return _end(store, study_id, "cancelled", _resume_hint(study_id,
                            "cancelled by the user"), emit, t0)
            run = runs.get_run(store, row.run_id)
            if run.alive and run.pid != os.getpid():
                raise DistillabError(f"run {run.id} of study {study_id} is running in "
                                     f"process {run.pid}", "wait for it, or cancel it first")
            emit(ev.StudyProgress(row.run_id, study_id, done, len(rows), row.arm, row.seed))
            status = runner.execute(store, row.run_id, on_event=emit, cancelled=check,
                                    reuse_stages=True)
            if status != "completed":
                error = runs.get_run(store, row.run_id).error or status
                return _end(store, study_id, status, _resume_hint(
                    study_id, f"run {row.run_id} ({row.arm}, seed {row.seed}) {status}: "
                    f"{error.splitlines()[0]}"), emit, t0)
            done += 1
    except DistillabError as exc:
        return _end(store, study_id, "failed", f"{exc.message}\n{exc.hint}".strip(), emit, t0)
    emit(ev.StudyProgress(0, study_id, done, len(rows), "", 0))
    studies.set_study(store, study_id, status="completed", finished_at=now(), pid=None)
    emit(ev.StudyFinished(0, study_id, "completed", f"all {len(rows)} runs finished",
                          time.monotonic() - t0))
    return "completed"


def _resume_hint(study_id: int, what: str) -> str:
    return f"{what}; `distillab study resume {study_id}` goes on from here"


def _end(store: Store, study_id: int, status: str, message: str, emit: EventSink,
         t0: float) -> str:
    studies.set_study(store, study_id, status=status, error=message, pid=None,
                      finished_at=now() if status == "failed" else None)
    emit(ev.StudyFinished(0, study_id, status, message, time.monotonic() - t0))
    return status


def run_study(loaded: LoadedStudy, db_path: str | Path, *, on_event: EventSink | None = None,
              cancelled: CancelCheck | None = None) -> tuple[int, str]:
    """Create a study in the database and run it; returns (study id, status)."""
    with Store(db_path) as store:
        study_id = create(store, loaded)
        return study_id, execute(store, study_id, on_event=on_event, cancelled=cancelled)


def resume_study(study_id: int, db_path: str | Path, *, on_event: EventSink | None = None,
                 cancelled: CancelCheck | None = None) -> str:
    """Go on with a cancelled, stopped, failed or killed study."""
    with Store(db_path) as store:
        study = studies.get_study(store, study_id)
        if study.status == "completed":
            raise DistillabError(f"study {study_id} is already completed",
                                 f"`distillab study report {study_id}` reports it")
        if study.alive and study.pid != os.getpid():
            raise DistillabError(f"study {study_id} is still running (process {study.pid})",
                                 "wait for it, or cancel it first")
        return execute(store, study_id, on_event=on_event, cancelled=cancelled)
