"""kill -9 of a run while the lab teacher answers the `cot` paradigm's solve stage: the lab
teacher dies with the run, and the resumed stage asks only what was not answered before
(no question answered twice). Baseline is off and cot's train and evaluate stages do
nothing here, so no student model is loaded."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import runner
from engine.cli import main
from engine.paradigms import PARADIGMS, Paradigm
from engine.stage import StageContext
from engine.store import Store, runs

from .conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.integration]

CHILD = """
import sys
from engine.paradigms import PARADIGMS
from engine.cli import main
from tests.test_lab_resume import teacher_half
PARADIGMS["cot"] = teacher_half(PARADIGMS["cot"])
sys.exit(main(sys.argv[1:]))
"""


def _nothing(ctx: StageContext) -> None:
    pass


def teacher_half(cot: Paradigm) -> Paradigm:
    """cot with its train and evaluate stages doing nothing (their parameters stay, since
    solve reads evaluate's task)."""
    return dataclasses.replace(cot, stages=(*cot.stages[:2], *(
        dataclasses.replace(s, run=_nothing) for s in cot.stages[2:])))


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _lab_servers(parent: int) -> list[int]:
    """Pids of lab teacher processes whose parent is ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and b"engine.teacher.guard" in cmd \
                and b"lab" in cmd:
            found.append(int(entry.name))
    return found


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
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        "schema_version: 1\nname: lab-kill\nparadigm: cot\nseed: 0\n"
        f"dataset: {{path: {data}, split: {{train: 1.0}}}}\n"
        "teacher: {kind: lab, concurrency: 2, lab: {latency_s: 0.15}}\n"
        "stages: {baseline: {enabled: false}, solve: {batch: 2, splits: [train]}}\n")
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
        servers = _lab_servers(proc.pid)
        assert len(servers) == 1
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    deadline = time.monotonic() + 10
    while _alive(servers[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(servers[0]), "the lab teacher outlived the killed run"
    assert 4 <= _units(db_path) < 16

    monkeypatch.setitem(PARADIGMS, "cot", teacher_half(PARADIGMS["cot"]))
    status = runner.resume(1, db_path)
    with Store(db_path) as store:
        assert status == "completed", runs.get_run(store, 1).error
        per_item = store.query("SELECT item_id, COUNT(*) FROM traces WHERE run_id = 1 "
                               "AND stage = 'solve' GROUP BY item_id")
        answered = store.query("SELECT cache_key, COUNT(*) FROM teacher_calls WHERE run_id = 1 "
                               "AND error IS NULL GROUP BY cache_key")
        verdicts = store.query("SELECT verdict, COUNT(*) FROM traces WHERE run_id = 1 "
                               "GROUP BY verdict")
    assert len(per_item) == 16 and all(n == 1 for _, n in per_item)
    assert len(answered) == 16 and all(n == 1 for _, n in answered)  # nothing answered twice
    assert dict(verdicts) == {"passed": 16}  # the always-right teacher, checked by gsm8k


def test_kill_9_of_the_lab_teacher_itself_fails_the_run_clearly_and_resume_finishes(
        tmp_path, db_path, monkeypatch):
    data = tmp_path / "arith.jsonl"
    assert main(["lab", "make", "arith", "--n", "16", "--ops", "3", "--seed", "3",
                 "-o", str(data)]) == 0
    text = ("schema_version: 1\nname: lab-kill-teacher\nparadigm: cot\nseed: 0\n"
            f"dataset: {{path: {data}, split: {{train: 1.0}}}}\n"
            "teacher: {kind: lab, concurrency: 2, max_retries: 1, lab: {latency_s: 0.15}}\n"
            "stages: {baseline: {enabled: false}, solve: {batch: 2, splits: [train]}}\n")
    monkeypatch.setitem(PARADIGMS, "cot", teacher_half(PARADIGMS["cot"]))
    killed: list[int] = []

    def kill_the_teacher() -> None:
        deadline = time.monotonic() + 60
        while _units(db_path) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        for pid in _lab_servers(os.getpid()):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    import threading

    from engine.validate import parse_recipe

    watcher = threading.Thread(target=kill_the_teacher)
    watcher.start()
    run_id, status = runner.run_recipe(parse_recipe(text, str(tmp_path / "r.yaml"), tmp_path),
                                       db_path)
    watcher.join()
    assert len(killed) == 1 and status == "failed"
    with Store(db_path) as store:
        error = runs.get_run(store, run_id).error
        assert 4 <= len(runs.finished_units(store, run_id, "solve")) < 16
    assert "lab teacher" in error and "resume" in error  # which endpoint, and what to do
    assert runner.resume(run_id, db_path) == "completed"
    with Store(db_path) as store:
        answered = store.query("SELECT cache_key, COUNT(*) FROM teacher_calls WHERE run_id = ? "
                               "AND error IS NULL GROUP BY cache_key", (run_id,))
        per_item = store.query("SELECT item_id, COUNT(*) FROM traces WHERE run_id = ? "
                               "GROUP BY item_id", (run_id,))
    assert len(answered) == 16 and all(n == 1 for _, n in answered)
    assert len(per_item) == 16 and all(n == 1 for _, n in per_item)
