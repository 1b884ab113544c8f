"""The runner: stages in order, unit-by-unit commits, events, cancel, resume after kill -9."""

from __future__ import annotations

import os
import signal
import time

import pytest

from engine import events as ev
from engine import runner
from engine.store import Store, runs, traces
from engine.validate import parse_recipe

from .conftest import smoke_recipe_text, spawn_cli, write_jsonl


def _loaded(tmp_path, rows, **stage_params):
    data = write_jsonl(tmp_path / "data.jsonl", rows)
    return parse_recipe(smoke_recipe_text(data, **stage_params), str(tmp_path / "r.yaml"))


def _exactly_once(db_path, run_id, n_items):
    with Store(db_path) as store:
        per_item = store.query("SELECT item_id, COUNT(*) FROM traces WHERE run_id = ? "
                               "AND stage = 'echo' GROUP BY item_id", (run_id,))
        evals = store.query("SELECT item_id, COUNT(*) FROM evaluations WHERE run_id = ? "
                            "GROUP BY item_id", (run_id,))
        units = store.query("SELECT stage, COUNT(*) FROM units WHERE run_id = ? GROUP BY stage",
                            (run_id,))
    assert len(per_item) == n_items and all(c == 1 for _, c in per_item)
    assert len(evals) == n_items and all(c == 1 for _, c in evals)
    assert dict((s, c) for s, c in units) == {"echo": n_items, "check": n_items}


def test_smoke_run_completes_with_events_and_results(tmp_path, db_path, math_rows):
    seen: list[ev.Event] = []
    run_id, status = runner.run_recipe(_loaded(tmp_path, math_rows), db_path,
                                       on_event=seen.append)
    assert status == "completed"
    kinds = [type(e).__name__ for e in seen]
    assert kinds[0] == "RunStarted" and kinds[-1] == "JobFinished"
    assert [e.stage for e in seen if isinstance(e, ev.StageStarted)] == ["echo", "check",
                                                                         "summary"]
    assert sum(isinstance(e, ev.TraceStored) for e in seen) == 10
    last = [e for e in seen if isinstance(e, ev.Progress) and e.stage == "echo"][-1]
    assert (last.done, last.total) == (10, 10) and last.eta_s == 0.0
    _exactly_once(db_path, run_id, 10)
    log = runner.run_log_path(db_path, run_id).read_text()
    assert "echo: started" in log and "accuracy 8/10" in log and "completed" in log
    with Store(db_path) as store:
        metrics = runs.latest_metrics(store, run_id)
        assert metrics["accuracy"] == pytest.approx(0.8)  # items 8 and 9 have wrong gold
        assert metrics["accuracy_ci_low"] < 0.8 < metrics["accuracy_ci_high"]
        trace = traces.get_trace(store, traces.page_traces(store, run_id=run_id)[0].id)
        assert [s.text for s in trace.steps] == ["We multiply.", "0 * 3 = 0", "#### 0"]
        assert all(s.status == "completed" for s in runs.stages(store, run_id))


def test_cancel_stops_between_units_and_resume_finishes(tmp_path, db_path, math_rows):
    seen: list[ev.Event] = []

    def cancel_after_four() -> bool:
        return sum(isinstance(e, ev.TraceStored) for e in seen) >= 4

    run_id, status = runner.run_recipe(_loaded(tmp_path, math_rows), db_path,
                                       on_event=seen.append, cancelled=cancel_after_four)
    assert status == "cancelled"
    with Store(db_path) as store:
        assert traces.count_traces(store, run_id) == 4
        assert runs.get_run(store, run_id).status == "cancelled"
    more: list[ev.Event] = []
    assert runner.resume(run_id, db_path, on_event=more.append) == "completed"
    assert sum(isinstance(e, ev.TraceStored) for e in more) == 6  # only the rest
    _exactly_once(db_path, run_id, 10)


def test_a_bug_in_a_stage_fails_the_run_with_a_message_and_keeps_finished_units(
        tmp_path, db_path, math_rows, monkeypatch):
    from engine.paradigms import smoke

    calls = {"n": 0}
    real_add = smoke.traces.add_evaluation

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise ValueError("boom")
        return real_add(*args, **kwargs)

    monkeypatch.setattr(smoke.traces, "add_evaluation", flaky)
    seen: list[ev.Event] = []
    run_id, status = runner.run_recipe(_loaded(tmp_path, math_rows), db_path,
                                       on_event=seen.append)
    assert status == "failed"
    failed = next(e for e in seen if isinstance(e, ev.JobFailed))
    assert "internal error in stage check: ValueError: boom" in failed.error
    assert "Traceback" in failed.details
    with Store(db_path) as store:
        assert runs.finished_units(store, run_id, "check").__len__() == 2
        assert {s.name: s.status for s in runs.stages(store, run_id)} == {
            "echo": "completed", "check": "failed", "summary": "pending"}
    monkeypatch.setattr(smoke.traces, "add_evaluation", real_add)
    assert runner.resume(run_id, db_path) == "completed"
    _exactly_once(db_path, run_id, 10)


def test_a_data_error_fails_cleanly(tmp_path, db_path):
    loaded = parse_recipe(smoke_recipe_text(tmp_path / "missing.jsonl"), "r.yaml")
    seen: list[ev.Event] = []
    _, status = runner.run_recipe(loaded, db_path, on_event=seen.append)
    assert status == "failed"
    failed = next(e for e in seen if isinstance(e, ev.JobFailed))
    assert "data file not found" in failed.error and failed.details == ""


def test_resume_refuses_a_completed_run(tmp_path, db_path, math_rows):
    from engine.errors import DistillabError

    run_id, _ = runner.run_recipe(_loaded(tmp_path, math_rows), db_path)
    with pytest.raises(DistillabError, match="already completed"):
        runner.resume(run_id, db_path)


def _wait_for_units(db_path, stage, at_least, proc, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be killed"
        if db_path.exists():
            with Store(db_path) as store:
                row = store.one("SELECT COUNT(*) FROM units WHERE stage = ?", (stage,))
            if row and row[0] >= at_least:
                return
        time.sleep(0.05)
    raise AssertionError(f"stage {stage} never reached {at_least} units")


@pytest.mark.slow
@pytest.mark.parametrize("kill_in", ["echo", "check"])
def test_kill_9_in_the_middle_of_a_stage_then_resume_records_every_unit_once(
        tmp_path, db_path, math_rows, kill_in):
    data = write_jsonl(tmp_path / "data.jsonl", math_rows)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(smoke_recipe_text(data, echo={"delay_s": 0.15}, check={"delay_s": 0.15}))
    proc = spawn_cli("run", str(recipe), "--db", str(db_path))
    try:
        _wait_for_units(db_path, kill_in, 3, proc)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with Store(db_path) as store:
        run = runs.get_run(store, 1)
        assert run.status == "running" and run.shown_status == "interrupted"
        done_before = len(runs.finished_units(store, 1, kill_in))
        assert 3 <= done_before < 10
    assert runner.resume(1, db_path) == "completed"
    _exactly_once(db_path, 1, 10)


@pytest.mark.slow
def test_ctrl_c_stops_within_seconds_names_the_resume_command_and_loses_nothing(
        tmp_path, db_path, math_rows):
    data = write_jsonl(tmp_path / "data.jsonl", math_rows)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(smoke_recipe_text(data, echo={"delay_s": 0.15}))
    proc = spawn_cli("run", str(recipe), "--db", str(db_path), ctrl_c=True)
    try:
        _wait_for_units(db_path, "echo", 3, proc)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        stopped_in = time.monotonic() - t0
    finally:
        proc.kill()
    assert proc.returncode == 3, err
    assert stopped_in < 10
    assert f"distillab resume 1 --db {db_path}" in err
    with Store(db_path) as store:
        assert runs.get_run(store, 1).shown_status == "interrupted"
        assert 3 <= len(runs.finished_units(store, 1, "echo")) < 10
    assert runner.resume(1, db_path) == "completed"
    _exactly_once(db_path, 1, 10)
