"""Teacher accounting: tokens and USD *used* (cache hits included) and *paid* per run, the v4
migration that adds it, and the budget bound under real concurrency (reservations), all
against the fake OpenAI-protocol server over loopback HTTP and a real SQLite file."""

from __future__ import annotations

import json
import sqlite3

import pytest
from rich.console import Console

from engine.export import export_run
from engine.recipes import BudgetSpec, TeacherSpec
from engine.report import run_report
from engine.store import LATEST_VERSION, Store, calls, runs
from engine.store.schema import migrate, user_version
from engine.teacher import BudgetExhausted, Request, open_teacher

from .fake_openai_server import FakeServer

KEY = "sk-test-accounting-1234"
NINE_WORDS = "a b c d e f g h i"


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("FAKE_TEACHER_KEY", KEY)


def _spec(server: FakeServer, **kw) -> TeacherSpec:
    fields = {"kind": "openai", "base_url": server.url, "model": "fake-model",
              "api_key_env": "FAKE_TEACHER_KEY", "use_keyring": False, "timeout_s": 10.0,
              "max_retries": 3, "price_input_per_m": 1000.0, "price_output_per_m": 2000.0,
              **kw}
    return TeacherSpec(**fields)


def _run(store: Store, name: str, budget: dict | None = None) -> int:
    return runs.create_run(store, name=name, paradigm="smoke", recipe_yaml="x: 1", seed=0,
                           stage_names=["gen"],
                           teacher={"budget": budget} if budget else None).id


def _show(db_path, run_id: int) -> str:
    console = Console(width=160, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(run_report(db_path, run_id))
    return console.export_text()


def test_used_vs_paid_on_a_run_that_hits_the_cache(db_path, tmp_path):
    # "q i" is 2 prompt tokens; the echo "echo k seed None: q i" is 6 completion tokens
    # (the fake server counts words). Price: $1000 / M in, $2000 / M out.
    with FakeServer(api_key=KEY) as server, Store(db_path) as store:
        first, second = _run(store, "first"), _run(store, "second")
        spec = _spec(server)
        with open_teacher(spec, store=store, run_id=first, stage="gen") as teacher:
            teacher.chat_many([Request(messages=[{"role": "user", "content": f"q {i}"}], n=2)
                               for i in range(3)])
        assert server.chat_requests == 3
        paid_first = calls.accounting(store, first)
        assert (paid_first.answers_paid, paid_first.tokens_paid) == (6, 3 * 2 + 6 * 6)
        assert paid_first.usd_paid == pytest.approx((6 * 1000 + 36 * 2000) / 1e6)
        # the second run asks the same three and one new question: one request is sent
        asks = [Request(messages=[{"role": "user", "content": f"q {i}"}], n=2)
                for i in range(4)]
        with open_teacher(spec, store=store, run_id=second, stage="gen") as teacher:
            results = teacher.chat_many(asks)
        assert server.chat_requests == 4 and [r.cached for r in results] == [1, 1, 1, 0]
        a = calls.accounting(store, second)
        assert (a.answers_paid, a.answers_reused) == (2, 6)
        assert a.tokens_paid == 2 + 12 and a.tokens_used == 42 + 14
        assert a.usd_paid == pytest.approx((2 * 1000 + 12 * 2000) / 1e6)
        assert a.usd_used == pytest.approx(paid_first.usd_paid + a.usd_paid)
        # asked again (a resume): nothing sent, nothing counted twice, used is still 56
        with open_teacher(spec, store=store, run_id=second, stage="gen") as teacher:
            teacher.chat_many(asks)
        assert server.chat_requests == 4 and calls.accounting(store, second) == a
        # the first run re-asking its own answers reuses nothing: it paid for them
        with open_teacher(spec, store=store, run_id=first, stage="gen") as teacher:
            teacher.chat_many(asks[:3])
        assert calls.accounting(store, first) == paid_first
        # the budget counts what the run paid, not what it used
        assert calls.totals(store, second).tokens == a.tokens_paid
        # a streamed answer from the cache (the GUI's "try a prompt") is used, not paid, too
        third = _run(store, "third")
        with open_teacher(spec, store=store, run_id=third, stage="try") as teacher:
            pieces = list(teacher.stream(asks[0]))
        assert "".join(p.text for p in pieces) == "echo 0 seed None: q 0"
        s = calls.accounting(store, third)
        assert (s.answers_reused, s.tokens_used, s.tokens_paid) == (1, 2 + 6, 0)
        assert server.chat_requests == 4
    text = _show(db_path, second)
    total = next(line for line in text.splitlines() if "total" in line).split("│")
    assert [c.strip() for c in total[1:-1]] == ["total", "2", "6", "0", "56", "14", "0.1040",
                                                "0.0260"]
    out = export_run(db_path, second, "jsonl", tmp_path / "t.jsonl", what="teacher")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["stage"] for r in rows] == ["gen", None]
    assert rows[-1]["teacher_tokens_used"] == 56 and rows[-1]["teacher_tokens_paid"] == 14
    assert rows[-1]["teacher_usd_used"] == pytest.approx(0.104)
    assert rows[-1]["teacher_answers_reused"] == 6


@pytest.mark.parametrize("cap", [{"max_tokens": 95}, {"max_usd": 0.019 * 9.5}])
def test_budget_overshoot_is_bounded_by_reservations_under_concurrency(db_path, cap):
    # Every request costs exactly what is reserved for it: prompt "qNNN" is 4 characters
    # (estimated 1 token, 1 word at the server) and the answer is 9 words with max_tokens 9,
    # so 10 tokens, $0.019. Eight requests may be in flight at once. A request is sent only
    # while spent + reserved < cap, so exactly ceil(95 / 10) = 10 are answered: spent ends at
    # 100 tokens (cap + 5, under one request's reservation). Without reservations the eight
    # in flight would each have been let through on the spend seen when they started.
    with FakeServer(api_key=KEY, delay_s=0.1) as server, Store(db_path) as store:
        server.responder = lambda request, i: NINE_WORDS
        server.faults.extend(["500", "500"])  # failed attempts are reserved, then released
        run = _run(store, "capped", cap)
        spec = _spec(server, concurrency=8, max_tokens=9, budget=BudgetSpec(**cap))
        asks = [Request(messages=[{"role": "user", "content": f"q{i:03d}"}]) for i in range(40)]
        with open_teacher(spec, store=store, run_id=run, stage="gen", backoff_s=0.01) as teacher, \
                pytest.raises(BudgetExhausted) as info:
            teacher.chat_many(asks)
        spent = calls.accounting(store, run)
        assert spent.answers_paid == 10 and spent.tokens_paid == 100
        assert spent.failed_attempts == 2 and server.chat_requests == 12
        assert spent.usd_paid == pytest.approx(10 * 0.019)
        assert server.max_in_flight >= 4  # they really were concurrent
        assert sum(r is not None for r in info.value.results) == 10


def test_a_v3_database_migrates_and_keeps_its_rows_and_figures(db_path):
    conn = sqlite3.connect(db_path, isolation_level=None)
    assert migrate(conn, target=3) == [1, 2, 3]
    conn.execute("INSERT INTO runs (name, paradigm, status, recipe_yaml, recipe_hash) "
                 "VALUES ('old', 'smoke', 'completed', 'y', 'h')")
    conn.executemany(
        "INSERT INTO teacher_calls (cache_key, run_id, stage, endpoint, model, request, "
        "response, tokens_in, tokens_out, latency_s, cost_usd, error) "
        "VALUES (?, 1, 'gen', 'e', 'm', '{}', '{}', ?, ?, 0.5, ?, ?)",
        [("k1", 7, 3, 0.25, None), ("k2", 0, 5, 0.5, None), ("k3", 0, 0, None, "server: 500")])
    conn.close()
    with Store(db_path) as store:  # opening migrates 3 -> 4
        assert user_version(store.conn) == LATEST_VERSION >= 4
        assert store.one("SELECT COUNT(*) FROM teacher_calls")[0] == 3
        assert store.query("SELECT * FROM teacher_reuse") == []
        assert runs.get_run(store, 1).name == "old"
        a = calls.accounting(store, 1)
        assert (a.answers_paid, a.answers_reused, a.failed_attempts) == (2, 0, 1)
        assert a.tokens_used == a.tokens_paid == 15
        assert a.usd_used == a.usd_paid == pytest.approx(0.75)
        assert calls.lookup(store, ["k1", "k3"]).keys() == {"k1"}  # the cache still serves


def test_a_stage_copied_from_another_run_is_used_not_paid(db_path):
    from engine.studies.reuse import copy_stage

    with Store(db_path) as store:
        src, dst = _run(store, "computed"), _run(store, "copied")
        store.insert("teacher_calls", calls.row(cache_key="k", endpoint="e", model="m",
                                                request={}, run_id=src, stage="gen",
                                                tokens_in=4, tokens_out=6, cost_usd=0.5))
        runs.set_stage(store, src, "gen", status="completed")
        counts = copy_stage(store, src, dst, "gen")
        assert counts is not None and counts["teacher answers"] == 1
        a = calls.accounting(store, dst)
        assert (a.tokens_used, a.tokens_paid, a.usd_used, a.usd_paid) == (10, 0, 0.5, 0.0)
        assert calls.accounting(store, src).tokens_paid == 10
