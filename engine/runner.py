"""Runs a recipe's stages as one job: creates the run, loads its data, runs each unfinished
stage in order, resumes, and turns the outcome (done, cancelled, stopped, failed) into the
run's status and a final event. What a stage may do is in ``engine.stage``. This module
knows nothing of Qt or of any model library.
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from engine import events as ev
from engine.data import load_dataset
from engine.errors import Cancelled, DistillabError, StopRun
from engine.paradigms import PARADIGMS
from engine.paths import run_log_path
from engine.recipes import LoadedRecipe
from engine.stage import StageContext
from engine.store import Store, items, now, runs
from engine.studies import reuse
from engine.validate import parse_recipe

EventSink = Callable[[ev.Event], None]
CancelCheck = Callable[[], bool]


def _never() -> bool:
    return False


def create(store: Store, loaded: LoadedRecipe) -> int:
    """Record a new run for a validated recipe; returns its id (nothing runs yet)."""
    recipe = loaded.recipe
    paradigm = PARADIGMS[recipe.paradigm]
    run = runs.create_run(
        store, name=recipe.name, paradigm=recipe.paradigm, recipe_yaml=loaded.text,
        seed=recipe.seed, recipe_path=loaded.source,
        teacher=recipe.teacher.model_dump(), student=recipe.student.model_dump(),
        stage_names=[s.name for s in paradigm.stages])
    return run.id


def execute(store: Store, run_id: int, *, on_event: EventSink | None = None,
            cancelled: CancelCheck | None = None, reuse_stages: bool = False) -> str:
    """Run (or resume) every unfinished stage of a run; returns the final status.

    Every stage records its input key (``engine.studies.reuse``); with ``reuse_stages``
    (studies) a stage whose key matches a completed stage of another run is copied from
    that run instead of being computed, as long as every earlier stage was copied too."""
    emit = _logging_sink(run_log_path(store.path, run_id), on_event or (lambda e: None))
    check = cancelled or _never
    run = runs.get_run(store, run_id)
    base_dir = Path(run.recipe_path).resolve().parent if run.recipe_path else None
    t0 = time.monotonic()
    resumed = run.started_at is not None
    stage_rows = runs.stages(store, run_id)
    runs.set_run(store, run_id, status="running", pid=os.getpid(), error=None,
                 started_at=run.started_at or now(), finished_at=None)
    emit(ev.RunStarted(run_id, run.name, run.paradigm, str(store.path),
                       tuple(s.name for s in stage_rows), resumed))
    current: str | None = None
    try:
        loaded = parse_recipe(run.recipe_yaml, run.recipe_path or f"run {run_id}", base_dir)
        dataset_id = run.dataset_id
        if dataset_id is None:
            dataset_id = load_dataset(store, loaded.recipe.dataset, loaded.recipe.seed, base_dir)
            runs.set_run(store, run_id, dataset_id=dataset_id)
            counts = items.split_counts(store, dataset_id)
            emit(ev.Log(run_id, "info", f"data set loaded: {counts}"))
        specs = {s.name: s for s in PARADIGMS[run.paradigm].stages}
        keys = reuse.stage_keys(loaded, PARADIGMS[run.paradigm].stages,
                                reuse.dataset_hash(store, dataset_id))
        for index, row in enumerate(stage_rows):
            if row.status == "completed":
                continue
            current = row.name
            if check():  # a cancel asked for during the stage before: stop before this one
                raise Cancelled()
            runs.set_stage(store, run_id, row.name, input_key=keys[row.name])
            if reuse_stages and _reused(store, run_id, stage_rows, index, keys[row.name], emit):
                current = None
                continue
            runs.set_stage(store, run_id, row.name, status="running",
                           started_at=row.started_at or now(), error=None)
            emit(ev.StageStarted(run_id, row.name, index, len(stage_rows)))
            s0 = time.monotonic()
            ctx = StageContext(store=store, run_id=run_id, loaded=loaded, spec=specs[row.name],
                               dataset_id=dataset_id, emit=emit, cancelled=check)
            specs[row.name].run(ctx)
            seconds = row.seconds + time.monotonic() - s0
            runs.set_stage(store, run_id, row.name, status="completed", finished_at=now(),
                           seconds=seconds)
            emit(ev.StageFinished(run_id, row.name, "completed", seconds))
            current = None
    except Cancelled:
        return _end(store, run_id, current, "cancelled", "cancelled by the user; "
                    f"`distillab resume {run_id}` goes on from here", emit, t0)
    except StopRun as exc:
        return _end(store, run_id, current, "stopped", str(exc), emit, t0)
    except DistillabError as exc:
        _fail(store, run_id, current, exc.message, exc.hint, "", emit)
        return "failed"
    except Exception as exc:
        details = traceback.format_exc()
        _fail(store, run_id, current, f"internal error in stage {current}: "
              f"{type(exc).__name__}: {exc}",
              f"this is a bug; the log has the traceback. `distillab resume {run_id}` retries "
              "from the last finished unit", details, emit)
        return "failed"
    runs.set_run(store, run_id, status="completed", finished_at=now(), pid=None)
    emit(ev.JobFinished(run_id, "completed", "all stages finished", time.monotonic() - t0))
    return "completed"


def _reused(store: Store, run_id: int, stage_rows: list[runs.Stage], index: int, key: str,
            emit: EventSink) -> bool:
    name = stage_rows[index].name
    hit = reuse.reuse_stage(store, run_id, name, key, [s.name for s in stage_rows[:index]])
    if hit is None:
        return False
    source, counts = hit
    emit(ev.StageStarted(run_id, name, index, len(stage_rows)))
    copied = ", ".join(f"{n} {table}" for table, n in counts.items() if n)
    emit(ev.Log(run_id, "info", f"reused from run {source} (same inputs and parameters): "
                f"{copied or 'no rows'}", name))
    emit(ev.StageFinished(run_id, name, "reused", 0.0))
    return True


def _logging_sink(path: Path, sink: EventSink) -> EventSink:
    """Pass events on, and append what a person reads later (logs, errors) to the log file,
    so a stored run shows its log in the GUI after the job is gone."""
    def emit(event: ev.Event) -> None:
        line = None
        if isinstance(event, ev.Log):
            line = f"{event.level} {event.stage or 'run'}: {event.message}"
        elif isinstance(event, ev.StageStarted):
            line = f"info {event.stage}: started"
        elif isinstance(event, ev.JobFailed):
            line = f"error run: {event.error}\n  fix: {event.hint}"
        elif isinstance(event, ev.JobFinished):
            line = f"info run: {event.status}: {event.message}"
        if line is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as fh:
                fh.write(f"{now()} {line}\n")
        sink(event)
    return emit


def _end(store: Store, run_id: int, stage: str | None, status: str, message: str,
         emit: EventSink, t0: float) -> str:
    if stage:
        runs.set_stage(store, run_id, stage, status=status)
    runs.set_run(store, run_id, status=status, error=message, pid=None)
    emit(ev.JobFinished(run_id, status, message, time.monotonic() - t0))
    return status


def _fail(store: Store, run_id: int, stage: str | None, error: str, hint: str, details: str,
          emit: EventSink) -> None:
    if stage:
        runs.set_stage(store, run_id, stage, status="failed", error=error)
    runs.set_run(store, run_id, status="failed", error=f"{error}\n{hint}".strip(),
                 finished_at=now(), pid=None)
    if details:
        emit(ev.Log(run_id, "error", details, stage))
    emit(ev.JobFailed(run_id, error, hint, details))


def run_recipe(loaded: LoadedRecipe, db_path: str | Path, *, on_event: EventSink | None = None,
               cancelled: CancelCheck | None = None) -> tuple[int, str]:
    """Create a run for the recipe in the database and execute it; returns (run id, status)."""
    with Store(db_path) as store:
        run_id = create(store, loaded)
        return run_id, execute(store, run_id, on_event=on_event, cancelled=cancelled)


def resume(run_id: int, db_path: str | Path, *, on_event: EventSink | None = None,
           cancelled: CancelCheck | None = None) -> str:
    """Go on with a stopped, failed, cancelled or killed run from its last finished unit."""
    with Store(db_path) as store:
        run = runs.get_run(store, run_id)
        if run.status == "completed":
            raise DistillabError(f"run {run_id} is already completed", "nothing to resume")
        if run.alive and run.pid != os.getpid():
            raise DistillabError(f"run {run_id} is still running (process {run.pid})",
                                 "wait for it, or cancel it first")
        return execute(store, run_id, on_event=on_event, cancelled=cancelled)
