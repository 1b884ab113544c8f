"""Runs a job in a separate worker process (spawn) and relays its events over a queue.

The GUI uses this so that model code never runs in the window's process: an out-of-memory
error or a crash in the worker cannot take the window down, and GPU memory is returned
when the worker ends. Cancel is cooperative (a shared flag the runner checks between
units); ``kill`` is the hard fallback. The engine's own ``runner`` does the work.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event as MpEvent
from pathlib import Path
from typing import Any

from engine import events as ev


@dataclass(frozen=True)
class JobSpec:
    """What to run: a recipe (by text, so an unsaved GUI recipe works) or a run to resume;
    or a study (by text; relative paths in it start at ``study_dir``) or a study to resume."""

    db_path: str
    recipe_text: str | None = None
    recipe_source: str = "<gui>"
    recipe_dir: str | None = None
    resume_run_id: int | None = None
    study_text: str | None = None
    study_source: str = "<gui study>"
    study_dir: str | None = None
    resume_study_id: int | None = None

    @property
    def is_study(self) -> bool:
        return self.study_text is not None or self.resume_study_id is not None


def _worker(spec: JobSpec, events: Any, cancel: MpEvent) -> None:
    """Entry point of the worker process."""
    from engine import runner
    from engine.errors import DistillabError
    from engine.validate import parse_recipe

    def send(event: ev.Event) -> None:
        events.put(event)

    try:
        if spec.is_study:
            _study_worker(spec, send, cancel)
        elif spec.resume_run_id is not None:
            runner.resume(spec.resume_run_id, spec.db_path, on_event=send,
                          cancelled=cancel.is_set)
        else:
            assert spec.recipe_text is not None
            base = Path(spec.recipe_dir) if spec.recipe_dir else None
            loaded = parse_recipe(spec.recipe_text, spec.recipe_source, base)
            runner.run_recipe(loaded, spec.db_path, on_event=send, cancelled=cancel.is_set)
    except DistillabError as exc:  # errors before a run exists (bad recipe, run not found)
        send(ev.JobFailed(spec.resume_run_id or 0, exc.message, exc.hint))


def _study_worker(spec: JobSpec, send: Any, cancel: MpEvent) -> None:
    """A study job: its runs send their own events; the study ends with StudyFinished, also
    when it cannot start (a bad study file, an unknown study)."""
    from engine.errors import DistillabError
    from engine.studies import runner as study_runner
    from engine.studies.spec import parse_study

    study_id = spec.resume_study_id or 0
    try:
        if spec.resume_study_id is not None:
            study_runner.resume_study(spec.resume_study_id, spec.db_path, on_event=send,
                                      cancelled=cancel.is_set)
        else:
            assert spec.study_text is not None
            base = Path(spec.study_dir) if spec.study_dir else None
            loaded = parse_study(spec.study_text, spec.study_source, base)
            study_runner.run_study(loaded, spec.db_path, on_event=send, cancelled=cancel.is_set)
    except DistillabError as exc:
        send(ev.StudyFinished(0, study_id, "failed", f"{exc.message}\n{exc.hint}".strip(), 0.0))
    except KeyError as exc:  # an unknown study id
        send(ev.StudyFinished(0, study_id, "failed", str(exc.args[0]), 0.0))


class Job:
    """A running worker process and the events it has sent."""

    def __init__(self, spec: JobSpec) -> None:
        ctx = mp.get_context("spawn")
        self.spec = spec
        self._events: Any = ctx.Queue()
        self._cancel = ctx.Event()
        self.process: BaseProcess = ctx.Process(target=_worker, args=(spec, self._events,
                                                                      self._cancel),
                                                name="distillab-worker", daemon=True)
        self.process.start()
        self.finished = False
        self.run_id: int | None = spec.resume_run_id
        self._death: ev.Event | None = None

    def events(self, timeout: float = 0.0) -> list[ev.Event]:
        """Events sent since the last call; after the worker dies without a final event, a
        synthetic JobFailed says how it died."""
        out: list[ev.Event] = []
        try:
            out.append(self._events.get(timeout=timeout) if timeout else
                       self._events.get_nowait())
            while True:
                out.append(self._events.get_nowait())
        except queue.Empty:
            pass
        for event in out:
            if isinstance(event, ev.RunStarted):
                self.run_id = event.run_id
            if self.is_final(event):
                self.finished = True
        if not out and not self.finished and not self.process.is_alive():
            self.finished = True
            code = self.process.exitcode
            how = f"was killed by signal {-code}" if code and code < 0 else \
                f"exited with code {code}"
            self._death = ev.JobFailed(
                self.run_id or 0, f"the worker process {how}",
                "everything finished before that is kept; Resume goes on from there "
                "(if memory ran out, lower the batch size or sequence length)")
            out.append(self._death)
        return out

    def is_final(self, event: ev.Event) -> bool:
        """The job's last event: a run's JobFinished / JobFailed; for a study, its
        StudyFinished (each of its runs ends with its own JobFinished first); or the
        JobFailed made up when the worker died."""
        if event is self._death:
            return True
        if self.spec.is_study:
            return isinstance(event, ev.StudyFinished)
        return isinstance(event, ev.JobFinished | ev.JobFailed)

    def cancel(self) -> None:
        """Ask the run to stop after the unit in flight."""
        self._cancel.set()

    def kill(self) -> None:
        """Hard stop (the fallback when cancel takes too long)."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=10)

    def join(self, timeout: float | None = None) -> None:
        self.process.join(timeout)

    @property
    def alive(self) -> bool:
        return self.process.is_alive()
