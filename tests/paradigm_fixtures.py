"""Shared pieces of the paradigms' end-to-end tests (elad, lema, supercorrect): writing a lab
recipe with its short student prompts, counting rows, and a run killed with -9 once a
condition on its database or files holds (the resume tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from engine.store import Store

ROOT = Path(__file__).resolve().parent.parent
Ready = Callable[[Path, Path], bool]  # (database, the run's files folder) -> kill now?


def write_recipe(folder: Path, name: str, text: str, prompts: dict[str, str]) -> Path:
    """``folder/name`` holding ``text``, with ``prompts`` (path -> template) beside it."""
    for path, template in prompts.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_text(template)
    recipe = folder / name
    recipe.write_text(text)
    return recipe


def count(db_path: Path, sql: str, *args: object) -> int:
    with Store(db_path) as store:
        row = store.one(sql, args)
    return int(row[0]) if row else 0


def run_and_kill(argv: list[str], db_path: Path, ready: Ready, log: Path, deadline_s: float = 600) -> None:
    """Start ``python argv`` (a `distillab run` of the recipe on ``db_path``) and kill -9 it
    as soon as ``ready`` holds; fail if it ends first or never gets there."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, *argv], env=env, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    files = db_path.parent / f"{db_path.stem}-files"
    try:
        deadline = time.monotonic() + deadline_s
        while not (db_path.exists() and ready(db_path, files)):
            assert proc.poll() is None, f"the run ended before the kill:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "the stage never got under way"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(60)
    assert proc.returncode == -signal.SIGKILL
