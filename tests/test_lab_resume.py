"""kill -9 of a run while the lab teacher answers: the lab teacher dies with the run, and the
resumed stage asks only what was not answered (no question answered twice)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import runner
from engine.cli import main
from engine.paradigms import PARADIGMS
from engine.store import Store, runs

from .conftest import ROOT
from .lab_fixtures import PARADIGM

pytestmark = [pytest.mark.slow, pytest.mark.integration]

CHILD = """
import sys
from tests.lab_fixtures import register
from engine.cli import main
register()
sys.exit(main(sys.argv[1:]))
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _units(db_path: Path) -> int:
    if not db_path.exists():
        return 0
    with Store(db_path) as store:
        row = store.one("SELECT COUNT(*) FROM units WHERE stage = 'solve'")
    return int(row[0]) if row else 0


def test_kill_9_mid_stage_then_resume_answers_nothing_twice(tmp_path, db_path, monkeypatch):
    data = tmp_path / "arith.jsonl"
    assert main(["lab", "make", "arith", "--n", "16", "--ops", "3", "--seed", "2",
                 "-o", str(data)]) == 0
    pid_file = tmp_path / "lab.pid"
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "schema_version: 1\nname: lab-kill\nparadigm: labsolve\nseed: 0\n"
        f"dataset: {{path: {data}, split: {{train: 1.0}}}}\n"
        "teacher: {kind: lab, concurrency: 2, lab: {latency_s: 0.15}}\n"
        f"stages: {{solve: {{chunk: 2, pid_file: {json.dumps(str(pid_file))}}}}}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, "run", str(recipe), "--db",
                             str(db_path)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while _units(db_path) < 4:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the stage never got going"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    lab_pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(lab_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(lab_pid), "the lab teacher outlived the killed run"
    done_before = _units(db_path)
    assert 4 <= done_before < 16

    monkeypatch.setitem(PARADIGMS, "labsolve", PARADIGM)
    status = runner.resume(1, db_path)
    with Store(db_path) as store:
        assert status == "completed", runs.get_run(store, 1).error
    with Store(db_path) as store:
        assert runs.get_run(store, 1).status == "completed"
        per_item = store.query("SELECT item_id, COUNT(*) FROM traces WHERE run_id = 1 "
                               "GROUP BY item_id")
        answered = store.query("SELECT cache_key, COUNT(*) FROM teacher_calls WHERE run_id = 1 "
                               "AND error IS NULL GROUP BY cache_key")
        flagged = store.one("SELECT COUNT(*) FROM traces WHERE flag IS NOT NULL")
    assert len(per_item) == 16 and all(n == 1 for _, n in per_item)
    assert len(answered) == 16 and all(n == 1 for _, n in answered)  # nothing answered twice
    assert flagged is not None and flagged[0] == 0
