"""The explain paradigm end to end: a scripted teacher over real HTTP, the tiny student, the
real sandbox; malformed teacher output; kill -9 in each stage, then resume."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import runner
from engine.store import Store, runs, traces
from engine.validate import parse_recipe

from .conftest import ROOT, write_jsonl
from .explain_fixtures import GOOD, problems, recipe_text, respond
from .fake_openai_server import FakeServer
from .tiny_model import ensure_tiny_model

pytestmark = pytest.mark.slow


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("DISTILLAB_TEST_KEY", "sk-test-explain")
    with FakeServer() as srv:
        srv.responder = respond
        yield srv


@pytest.fixture
def recipe(tmp_path, server, models_home):
    data = write_jsonl(tmp_path / "problems.jsonl", problems())
    student = ensure_tiny_model(models_home)
    path = tmp_path / "explain.yaml"
    path.write_text(recipe_text(data, server.url, student))
    return path


def _eval_entries(db_path: Path, run_id: int) -> list[str]:
    with Store(db_path) as store:
        rows = store.query("SELECT i.data FROM items i JOIN runs r ON r.dataset_id = i.dataset_id "
                           "WHERE r.id = ? AND i.split = 'test'", (run_id,))
    return [json.loads(r[0])["entry_point"] for r in rows]


def _check_complete(db_path: Path, run_id: int, server: FakeServer,
                    in_flight: int = 0) -> dict[str, float]:
    """Everything a finished run must hold, whatever was killed on the way.

    ``in_flight``: requests that may have been on the wire when the process was killed;
    their answers never arrived, so a resume sends them again (at most the concurrency).
    Every request that was answered is never sent again."""
    with Store(db_path) as store:
        run = runs.get_run(store, run_id)
        assert run.status == "completed", run.error
        explained = traces.page_traces(store, run_id=run_id, stage="explain", limit=1000)
        assert len(explained) == 8  # 6 train + 2 validation
        assert len({t.item_id for t in explained}) == 8
        flagged = [t for t in explained if t.flag]
        assert len(flagged) == 1 and flagged[0].flag.startswith("missing sections")
        good = next(t for t in explained if not t.flag)
        assert [s.kind for s in traces.get_trace(store, good.id).steps] == [
            "analysis", "conceptual_evolution", "key_insights", "step_by_step"]
        # one evaluation per program, one coder trace per (item, plan, code)
        evals = store.query("SELECT trace_id, COUNT(*) FROM evaluations WHERE run_id = ? "
                            "GROUP BY trace_id", (run_id,))
        assert len(evals) == 4 * 4 and all(c == 1 for _, c in evals)
        coder = traces.page_traces(store, run_id=run_id, stage="code", role="coder", limit=1000)
        assert len(coder) == 16 and all(t.parent_id for t in coder)
        assert {t.verdict for t in coder} <= {"passed", "failed"}  # shown in the Traces view
        units = dict(store.query("SELECT stage, COUNT(*) FROM units WHERE run_id = ? "
                                 "GROUP BY stage", (run_id,)))
        assert units == {"explain": 8, "weight": 1, "plan": 4, "code": 8, "evaluate": 16}
        metrics = runs.latest_metrics(store, run_id)
        calls = store.query("SELECT request FROM teacher_calls WHERE run_id = ? AND error IS NULL",
                            (run_id,))
    # no teacher request was ever sent twice: every body the server saw is distinct
    bodies = collections.Counter(json.dumps(b, sort_keys=True) for b in server.bodies
                                 if "messages" in b)
    repeated = [body for body, count in bodies.items() if count > 1]
    assert bodies and max(bodies.values()) <= 2
    assert len(repeated) <= in_flight, f"{len(repeated)} teacher requests were sent twice"
    assert len(calls) >= 8
    return metrics


def test_explain_end_to_end_with_known_solve_rate(recipe, db_path, server, capsys):
    loaded = parse_recipe(recipe.read_text(), str(recipe), recipe.parent)
    run_id, status = runner.run_recipe(loaded, db_path)
    assert status == "completed"
    metrics = _check_complete(db_path, run_id, server)
    expected = sum(e in GOOD for e in _eval_entries(db_path, run_id)) / 4
    assert metrics["solve@1"] == pytest.approx(expected)
    assert metrics["solve@4"] == pytest.approx(expected)
    assert metrics["grid/2x2/solve@4"] == pytest.approx(expected)
    assert metrics["teacher_tokens"] > 0 and metrics["programs_per_item"] == 4
    assert metrics["train/loss"] > 0
    with Store(db_path) as store:
        kinds = [a["kind"] for a in runs.artifacts(store, run_id)]
        weights = [a["meta"] for a in runs.artifacts(store, run_id) if a["kind"] == "weights"]
        plans = traces.page_traces(store, run_id=run_id, stage="plan", limit=100)
        # weights are data on the run, not bookkeeping traces beside the editorials
        assert not traces.page_traces(store, run_id=run_id, stage="weight", limit=100)
    assert "adapter" in kinds
    assert len(weights) == 1 and weights[0]["scheme"] == "uniform"
    assert len(weights[0]["weights"]) == 6 and len(plans) == 8
    from engine.cli import main

    assert main(["show", str(run_id), "--db", str(db_path)]) == 0
    out = capsys.readouterr().out
    assert "solve@k (n = 4 programs per item)" in out and "95% CI" in out
    assert "teacher cost" in out and "explain" in out and "code" in out


def test_a_rerun_of_the_same_recipe_sends_nothing_to_the_teacher(recipe, db_path, server):
    loaded = parse_recipe(recipe.read_text(), str(recipe), recipe.parent)
    runner.run_recipe(loaded, db_path)
    sent = server.chat_requests
    _, status = runner.run_recipe(loaded, db_path)  # a new run: every answer is cached
    assert status == "completed" and server.chat_requests == sent


def test_baselines_no_hint_and_code_finetuning(tmp_path, db_path, server, models_home):
    data = write_jsonl(tmp_path / "problems.jsonl", problems())
    student = ensure_tiny_model(models_home)
    text = recipe_text(data, server.url, student, explain={"splits": []},
                       train={"target": "none"},
                       code={"coder": "teacher", "codes_per_plan": 4, "batch": 2})
    run_id, status = runner.run_recipe(parse_recipe(text, "nohint.yaml"), db_path)
    assert status == "completed"
    with Store(db_path) as store:
        assert traces.count_traces(store, run_id, "explain") == 0
        assert traces.count_traces(store, run_id, "plan") == 4  # one empty plan per item
        metrics = runs.latest_metrics(store, run_id)
    expected = sum(e in GOOD for e in _eval_entries(db_path, run_id)) / 4
    assert metrics["solve@4"] == pytest.approx(expected)
    assert metrics["grid/1x4/solve@4"] == pytest.approx(expected)


def _wait(db_path: Path, proc: subprocess.Popen, ready, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log = Path(db_path.parent / "run.log").read_text()[-3000:]
            raise AssertionError(f"the run ended before it could be killed:\n{log}")
        if db_path.exists():
            with Store(db_path) as store:
                if ready(store):
                    return
        time.sleep(0.05)
    raise AssertionError("the stage never got under way")


def _units(store: Store, stage: str) -> int:
    row = store.one("SELECT COUNT(*) FROM units WHERE stage = ?", (stage,))
    return int(row[0]) if row else 0


READY = {
    "explain": lambda store, files: _units(store, "explain") >= 2,
    "train": lambda store, files: any(files.glob("**/checkpoint-1/trainer_state.json")),
    "code": lambda store, files: _units(store, "code") >= 2,
    "evaluate": lambda store, files: _units(store, "evaluate") >= 1,
}


@pytest.mark.parametrize("stage", list(READY))
def test_kill_9_during_a_stage_then_resume(stage, recipe, db_path, server, tmp_path):
    # slow the teacher down so the kill lands inside explain / code, and the programs so
    # it lands inside evaluate
    server.delay_s = 0.3
    if stage == "explain":  # commit every 2 items, so the kill lands between commits
        recipe.write_text(recipe.read_text().replace("stages:\n", "stages:\n  explain: {batch: 2}\n"))
    if stage == "evaluate":
        server.responder = lambda request, i: respond(request, i).replace(
            "def ", "import time\ntime.sleep(0.4)\ndef ", 1)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "run", str(recipe), "--db",
                             str(db_path)], env=env, stdout=log, stderr=subprocess.STDOUT)
    files = db_path.parent / f"{db_path.stem}-files"
    try:
        _wait(db_path, proc, lambda store: READY[stage](store, files))
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with Store(db_path) as store:
        stage_row = {s.name: s for s in runs.stages(store, 1)}[stage]
        assert stage_row.status == "running"  # killed inside this stage
    server.delay_s = 0.0
    assert runner.resume(1, db_path) == "completed"
    _check_complete(db_path, 1, server, in_flight=2)  # teacher.concurrency
    if stage == "train":
        result = json.loads(next(files.glob("run-1/reasoner/train_result.json")).read_text())
        assert result["resumed_from"] >= 1  # continued from the checkpoint, not from step 0
