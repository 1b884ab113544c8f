"""Batch teacher jobs (engine/teacher/batch.py) against our loopback Files + Batches server
(tests/fake_batch_server.py) and a real SQLite file: a batch that completes (answers cached
at half price), one that partly fails and one that expires (the rest retried normally), a
restart mid-poll that polls the same batch, and a real cot run with `teacher.batch: true`."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine import events as ev
from engine import runner
from engine.errors import Cancelled
from engine.recipes import TeacherSpec
from engine.store import LATEST_VERSION, Store, batches, calls, runs, traces
from engine.store.schema import MIGRATIONS, _v6_teacher_batches, migrate, user_version
from engine.teacher import Request, TeacherError, open_teacher
from engine.validate import parse_recipe

from .conftest import write_jsonl
from .fake_batch_server import FakeBatchServer
from .fake_openai_server import FakeServer

KEY = "sk-test-batch"
ROOT = Path(__file__).resolve().parent.parent
PRICE_IN, PRICE_OUT = 1000.0, 2000.0  # USD per million tokens: visible costs


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("BATCH_KEY", KEY)


@pytest.fixture
def server():
    with FakeBatchServer(api_key=KEY) as srv:
        yield srv


def _spec(url: str, **kw) -> TeacherSpec:
    fields = {"kind": "openai", "base_url": url, "model": "fake-model", "api_key_env":
              "BATCH_KEY", "use_keyring": False, "timeout_s": 5.0, "max_retries": 2,
              "batch": True, "batch_poll_s": 0.02, "price_input_per_m": PRICE_IN,
              "price_output_per_m": PRICE_OUT, **kw}
    return TeacherSpec.model_validate(fields)


def _run(store: Store) -> int:
    return runs.create_run(store, name="batch", paradigm="smoke", recipe_yaml="x: 1", seed=0,
                           stage_names=["gen"]).id


def _asks(n: int = 6) -> list[Request]:
    return [Request(messages=[{"role": "user", "content": f"q {i}"}]) for i in range(n)]


def _full_price(store: Store, run_id: int) -> float:
    row = store.one("SELECT SUM(tokens_in), SUM(tokens_out) FROM teacher_calls WHERE run_id = ? "
                    "AND error IS NULL", (run_id,))
    return (row[0] * PRICE_IN + row[1] * PRICE_OUT) / 1e6


def test_recipe_batch_needs_one_openai_endpoint():
    assert not TeacherSpec().batch
    with pytest.raises(ValueError, match="kind openai"):
        TeacherSpec(batch=True)
    with pytest.raises(ValueError, match="one endpoint"):
        TeacherSpec(kind="openai", model="m", batch=True,
                    endpoints=[{"base_url": "http://a:1/v1"}])


def test_v6_adds_teacher_batches_to_an_existing_project(db_path):
    conn = sqlite3.connect(db_path, isolation_level=None)
    migrate(conn, target=MIGRATIONS.index(_v6_teacher_batches))  # the schema before batches
    conn.execute("INSERT INTO runs (id, paradigm, status, recipe_yaml, recipe_hash) "
                 "VALUES (1, 'smoke', 'stopped', 'x: 1', 'h')")
    assert "teacher_batches" not in {r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    with Store(db_path) as store:  # opening migrates
        assert user_version(store.conn) == LATEST_VERSION
        row = batches.add(store, run_id=1, stage="gen", batch_key="k", endpoint="e",
                          batch_id="batch_9", input_file_id="file-9", status="validating",
                          custom_ids=["a", "b"])
        assert batches.find(store, 1, "gen", "k", "e") == row and not row.mapped
        assert runs.get_run(store, 1).status == "stopped"


def test_a_completed_batch_fills_the_cache_at_half_price(db_path, server):
    with Store(db_path) as store:
        run_id = _run(store)
        with open_teacher(_spec(server.url), store=store, run_id=run_id, stage="gen") as teacher:
            report = teacher.prefetch_batch(_asks() + _asks(2))  # the same request twice: once
            assert (report.status, report.sent, report.answered, report.failed) == \
                ("completed", 6, 6, 0)
            results = teacher.chat_many(_asks())
            assert all(r.ok and r.cached for r in results)
            assert teacher.prefetch_batch(_asks()).status == "nothing to send"
        assert (server.uploads, server.batches_created, server.chat_requests) == (1, 1, 0)
        lines = [json.loads(t) for t in server.files["file-1"].decode().splitlines()]
        assert [sorted(line) for line in lines] == [["body", "custom_id", "method", "url"]] * 6
        assert {line["url"] for line in lines} == {"/v1/chat/completions"}
        assert lines[0]["body"]["model"] == "fake-model"
        assert lines[0]["body"]["messages"] == [{"role": "user", "content": "q 0"}]
        paid = calls.accounting(store, run_id)
        assert (paid.answers_paid, paid.answers_reused) == (6, 0)
        assert paid.usd_paid == pytest.approx(_full_price(store, run_id) / 2)
        (row,) = batches.for_stage(store, run_id, "gen")
        assert (row.batch_id, row.status, row.mapped, len(row.custom_ids)) == \
            ("batch_1", "completed", True, 6)


def test_a_partly_failed_batch_retries_the_failed_requests_normally(db_path, server):
    server.line_fault = lambda body: 500 if body["messages"][0]["content"] in ("q 2", "q 4") \
        else None
    with Store(db_path) as store:
        run_id = _run(store)
        with open_teacher(_spec(server.url), store=store, run_id=run_id, stage="gen") as teacher:
            report = teacher.prefetch_batch(_asks())
            assert (report.answered, report.failed, report.unanswered) == (4, 2, 0)
            results = teacher.chat_many(_asks())
            # the stage resumes later: the two failed requests are not batched again
            assert teacher.prefetch_batch(_asks()).status == "nothing to send"
        assert all(r.ok for r in results)
        assert [r.cached for r in results] == [True, True, False, True, False, True]
        assert server.chat_requests == 2 and server.batches_created == 1
        errors = calls.errors(store, run_id)
        assert len(errors) == 2 and all("batch_request_failed" in e["error"] for e in errors)
        # 4 answers at the batch rate, 2 at the normal one; one paid answer per request
        rows = store.query("SELECT cache_key, COUNT(*) FROM teacher_calls WHERE run_id = ? AND "
                           "error IS NULL GROUP BY cache_key", (run_id,))
        assert len(rows) == 6 and all(r[1] == 1 for r in rows)
        by_batch = store.one(
            "SELECT SUM(cost_usd) FILTER (WHERE json_extract(request, '$.batch_id') IS NOT "
            "NULL), SUM(cost_usd) FILTER (WHERE json_extract(request, '$.batch_id') IS NULL) "
            "FROM teacher_calls WHERE run_id = ? AND error IS NULL", (run_id,))
        normal = sum(r.cost_usd for r in results if not r.cached)
        assert by_batch[1] == pytest.approx(normal) and by_batch[0] == pytest.approx(normal)
        # (4 batch answers at half price cost what 2 normal ones do: same sizes)


def test_an_expired_batch_keeps_what_it_answered_and_sends_the_rest(db_path, server):
    server.expire_after = 4
    with Store(db_path) as store:
        run_id = _run(store)
        with open_teacher(_spec(server.url), store=store, run_id=run_id, stage="gen") as teacher:
            report = teacher.prefetch_batch(_asks())
            assert (report.status, report.answered, report.failed, report.unanswered) == \
                ("expired", 4, 0, 2)
            results = teacher.chat_many(_asks())
        assert [r.cached for r in results] == [True] * 4 + [False] * 2 and all(r.ok for r in results)
        assert server.chat_requests == 2
        (row,) = batches.for_stage(store, run_id, "gen")
        assert row.status == "expired" and row.mapped


def test_a_budget_cap_sends_only_what_fits_in_the_batch(db_path, server):
    # each request is estimated at max_tokens (1000) + prompt/4: three fit under 3500
    spec = _spec(server.url, max_tokens=1000, budget={"max_tokens": 3500})
    with Store(db_path) as store:
        run_id = _run(store)
        with open_teacher(spec, store=store, run_id=run_id, stage="gen") as teacher:
            report = teacher.prefetch_batch(_asks())
            assert (report.sent, report.answered, report.left_out) == (3, 3, 3)
            results = teacher.chat_many(_asks())  # the rest within the cap, one by one
        assert all(r.ok for r in results) and server.chat_requests == 3


def test_a_restart_mid_poll_polls_the_same_batch(db_path, server):
    server.polls_to_finish = 4
    with Store(db_path) as store:
        run_id = _run(store)
        # the run is cancelled (or killed) while it waits
        with open_teacher(_spec(server.url), store=store, run_id=run_id, stage="gen") as teacher, \
                pytest.raises(Cancelled):
            teacher.prefetch_batch(_asks(), should_stop=lambda: server.polls >= 2)
        (row,) = batches.for_stage(store, run_id, "gen")
        assert row.status == "in_progress" and not row.mapped
        assert calls.accounting(store, run_id).answers_paid == 0
        with open_teacher(_spec(server.url), store=store, run_id=run_id, stage="gen") as teacher:
            report = teacher.prefetch_batch(_asks())
            assert report.resumed and report.batch_id == row.batch_id and report.answered == 6
        assert (server.uploads, server.batches_created, server.chat_requests) == (1, 1, 0)
        assert calls.accounting(store, run_id).answers_paid == 6


def test_an_endpoint_without_a_batches_api_says_to_turn_batch_off(db_path):
    with FakeServer(api_key=KEY) as plain, Store(db_path) as store:
        with open_teacher(_spec(plain.url), store=store, run_id=_run(store),
                          stage="gen") as teacher, \
                pytest.raises(TeacherError, match="uploading") as caught:
            teacher.prefetch_batch(_asks(2))
        assert "teacher.batch: false" in caught.value.hint


def _cot_recipe(data: Path, url: str) -> str:
    return (
        "schema_version: 1\nname: cot-batch\nparadigm: cot\nseed: 0\n"
        f"dataset:\n  path: {data}\n  split: {{train: 0.5, validation: 0.25, test: 0.25}}\n"
        f"teacher:\n  kind: openai\n  base_url: {url}\n  model: fake-model\n"
        "  api_key_env: BATCH_KEY\n  use_keyring: false\n  concurrency: 2\n  max_tokens: 32\n"
        "  batch: true\n  batch_poll_s: 0.02\n  price_input_per_m: 1000\n"
        "  price_output_per_m: 2000\n"
        "student:\n  model: tiny-student\n"
        "stages:\n  baseline: {enabled: false}\n"
    )


def test_cot_solve_runs_as_one_batch_and_a_restart_polls_it(tmp_path, db_path, server):
    rows = [{"question": f"What is {i} plus {i}?", "answer": str(2 * i)} for i in range(8)]
    server.responder = lambda request, sample: "Step 1: add.\nThe answer is 0."
    server.polls_to_finish = 3
    data = write_jsonl(tmp_path / "q.jsonl", rows)
    loaded = parse_recipe(_cot_recipe(data, server.url), "cot-batch.yaml", tmp_path)
    solved: list[bool] = []

    def after_solve(event: ev.Event) -> None:
        if isinstance(event, ev.StageFinished) and event.stage == "solve":
            solved.append(True)

    # first: cancelled while the batch is in progress (as a kill or a closed laptop would)
    run_id, status = runner.run_recipe(loaded, db_path, cancelled=lambda: server.polls >= 1)
    assert status == "cancelled" and server.batches_created == 1
    # resumed: the same batch is polled; solve finishes from the cache; stop before training
    status = runner.resume(run_id, db_path, on_event=after_solve, cancelled=lambda: bool(solved))
    assert status == "cancelled" and solved
    assert (server.uploads, server.batches_created, server.chat_requests) == (1, 1, 0)
    with Store(db_path) as store:
        solved_traces = traces.page_traces(store, run_id=run_id, stage="solve", limit=100)
        n_train = store.one("SELECT COUNT(*) FROM items i JOIN runs r ON r.dataset_id = "
                            "i.dataset_id WHERE r.id = ? AND i.split IN ('train', "
                            "'validation')", (run_id,))[0]
        assert len(solved_traces) == n_train > 0
        assert all(t.output.startswith("Step 1") for t in solved_traces)
        (row,) = batches.for_stage(store, run_id, "solve")
        assert row.mapped and len(row.custom_ids) == n_train
        paid = calls.accounting(store, run_id)
        assert paid.answers_paid == n_train
        assert paid.usd_paid == pytest.approx(_full_price(store, run_id) / 2)


def test_kill_9_while_polling_then_resume_polls_the_same_batch(tmp_path, db_path, server):
    rows = [{"question": f"What is {i} plus {i}?", "answer": str(2 * i)} for i in range(8)]
    server.responder = lambda request, sample: f"Step 1: add.\nThe answer is {sample}."
    server.polls_to_finish = 10**6  # in progress until the engine is killed
    recipe = tmp_path / "cot-batch.yaml"
    recipe.write_text(_cot_recipe(write_jsonl(tmp_path / "q.jsonl", rows), server.url))
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "run", str(recipe), "--db",
                             str(db_path)], env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while server.polls < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "no batch polled"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    server.polls_to_finish = 0  # the batch ends at its next poll
    solved: list[bool] = []

    def after_solve(event: ev.Event) -> None:
        if isinstance(event, ev.StageFinished) and event.stage == "solve":
            solved.append(True)

    assert runner.resume(1, db_path, on_event=after_solve,
                         cancelled=lambda: bool(solved)) == "cancelled"
    assert solved and (server.uploads, server.batches_created, server.chat_requests) == (1, 1, 0)
    with Store(db_path) as store:
        (row,) = batches.for_stage(store, 1, "solve")
        assert row.batch_id == "batch_1" and row.mapped and row.status == "completed"
        assert calls.accounting(store, 1).answers_paid == len(row.custom_ids)
