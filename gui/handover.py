"""Jobs that go on after the window closes: leaving with a job running and choosing *Keep
it running* hands the job to a detached ``distillab resume`` process, recorded here, so the
next window on that project shows it.

The hand-over is the engine's own resume: the worker is cancelled cooperatively (the unit
in flight finishes, training saves a checkpoint), then ``python -m engine.cli resume N``
starts in its own session (it survives the window and the terminal) and goes on from the
last finished unit, paying for nothing twice. A study goes on with ``study resume``.
The record is ``background.json`` in the data dir: project, run (or study), pid, log.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.paths import PROJECT_ROOT, data_dir, run_dir, study_dir


@dataclass(frozen=True)
class Background:
    db: str
    kind: str  # "run" or "study"
    ident: int
    pid: int
    log: str

    @property
    def label(self) -> str:
        return f"{self.kind.capitalize()} {self.ident}"


def _path() -> Path:
    return data_dir() / "background.json"


def _alive(pid: int) -> bool:
    """A live process of ours (a zombie, reaped or not, counts as ended)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (macOS): the kill probe is all there is
    return state != "Z"


def _load() -> list[Background]:
    try:
        raw = json.loads(_path().read_text(encoding="utf-8"))
        return [Background(**entry) for entry in raw]
    except (OSError, ValueError, TypeError):
        return []


def _save(entries: list[Background]) -> None:
    _path().write_text(json.dumps([asdict(e) for e in entries], indent=1), encoding="utf-8")


def active(db: Path) -> list[Background]:
    """The live background jobs of one project (ended ones are dropped from the record)."""
    entries = [e for e in _load() if _alive(e.pid)]
    _save(entries)
    target = str(db.resolve())
    return [e for e in entries if e.db == target]


def start(db: Path, kind: str, ident: int) -> Background:
    """Start ``distillab resume`` (or ``study resume``) for a run (study) detached from the
    window, and record it."""
    db = db.resolve()
    folder = run_dir(db, ident) if kind == "run" else study_dir(db, ident)
    log = folder / "background.log"
    verb = ["resume", str(ident)] if kind == "run" else ["study", "resume", str(ident)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "engine.cli", *verb, "--db", str(db)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                cwd=str(PROJECT_ROOT), env=env, start_new_session=True)
    entry = Background(str(db), kind, ident, proc.pid, str(log))
    _save([*[e for e in _load() if _alive(e.pid)], entry])
    return entry


def stop(entry: Background) -> None:
    """Interrupt a background job (SIGINT, as Ctrl+C would); the run stays resumable."""
    if _alive(entry.pid):
        os.kill(entry.pid, signal.SIGINT)


def alive(entry: Background) -> bool:
    return _alive(entry.pid)
