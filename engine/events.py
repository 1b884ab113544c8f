"""Plain event dataclasses that a run sends to whoever watches it (CLI, GUI, tests).

They know nothing of Qt: the GUI's engine thread turns them into signals. All are
picklable, so they cross from the worker process over a multiprocessing queue.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Event:
    run_id: int

    def to_dict(self) -> dict[str, Any]:
        return {"event": type(self).__name__, **asdict(self)}


@dataclass(frozen=True)
class RunStarted(Event):
    name: str
    paradigm: str
    db_path: str
    stages: tuple[str, ...]
    resumed: bool


@dataclass(frozen=True)
class StageStarted(Event):
    stage: str
    index: int
    n_stages: int


@dataclass(frozen=True)
class Progress(Event):
    """Units done of total in a stage; rate in units/s and ETA in seconds, once measurable."""

    stage: str
    done: int
    total: int
    rate: float | None = None
    eta_s: float | None = None
    message: str = ""


@dataclass(frozen=True)
class Metric(Event):
    stage: str | None
    name: str
    value: float
    step: int | None = None


@dataclass(frozen=True)
class Log(Event):
    level: str
    message: str
    stage: str | None = None


@dataclass(frozen=True)
class TraceStored(Event):
    stage: str
    trace_id: int
    role: str
    item_id: int | None


@dataclass(frozen=True)
class StageFinished(Event):
    stage: str
    status: str
    seconds: float


@dataclass(frozen=True)
class JobFinished(Event):
    """The run ended without an error: status completed, cancelled or stopped (resumable)."""

    status: str
    message: str
    seconds: float


@dataclass(frozen=True)
class JobFailed(Event):
    """The run ended with an error; ``hint`` says what to do, ``details`` may hold a traceback."""

    error: str
    hint: str
    details: str = ""


@dataclass(frozen=True)
class StudyStarted(Event):
    """A study began (or resumed); ``run_id`` is 0, its runs send their own events."""

    study_id: int
    name: str
    db_path: str
    n_runs: int
    done: int
    resumed: bool


@dataclass(frozen=True)
class StudyProgress(Event):
    """Run ``run_id`` (arm x seed) is next: ``done`` of ``total`` runs are complete."""

    study_id: int
    done: int
    total: int
    arm: str
    seed: int


@dataclass(frozen=True)
class StudyFinished(Event):
    """The study ended: completed, or cancelled / stopped / failed at one of its runs
    (resumable with `distillab study resume`)."""

    study_id: int
    status: str
    message: str
    seconds: float
