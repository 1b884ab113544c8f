"""A pool of teacher endpoints (engine/teacher/pool.py): balancing, failover when a server is
killed mid-stage, per-server figures in the audit, and nothing paid twice; real loopback
servers (tests/fake_openai_server.py, one in its own process so it can be SIGKILLed) and
a real SQLite file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from engine.errors import DistillabError
from engine.recipes import TeacherSpec
from engine.report import run_report
from engine.store import Store, calls, runs
from engine.teacher import Request, TeacherError, open_teacher
from engine.teacher.pool import EndpointPool, Member

from .fake_openai_server import FakeServer

KEY = "sk-test-pool"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("POOL_KEY", KEY)


def _spec(urls: list[str], weights: list[float] | None = None, **kw) -> TeacherSpec:
    endpoints = [{"base_url": u, "weight": w} for u, w in
                 zip(urls, weights or [1.0] * len(urls), strict=True)]
    fields = {"kind": "openai", "endpoints": endpoints, "model": "fake-model",
              "api_key_env": "POOL_KEY", "use_keyring": False, "timeout_s": 5.0,
              "max_retries": 4, "concurrency": 6, "endpoint_down_s": 60.0,
              "price_input_per_m": 1000.0, "price_output_per_m": 2000.0, **kw}
    return TeacherSpec.model_validate(fields)


def _run(store: Store) -> int:
    return runs.create_run(store, name="pool", paradigm="smoke", recipe_yaml="x: 1", seed=0,
                           stage_names=["gen"]).id


def _show(db_path: Path, run_id: int) -> str:
    console = Console(width=200, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(run_report(db_path, run_id))
    return console.export_text()


def _asks(n: int, tag: str = "q") -> list[Request]:
    return [Request(messages=[{"role": "user", "content": f"{tag} {i}"}]) for i in range(n)]


def _start_process_server(delay: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fake_openai_server.py"),
                             "--delay", str(delay)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("PORT "), line
    return proc, f"http://127.0.0.1:{int(line.split()[1])}/v1"


def test_recipe_keeps_single_endpoint_and_checks_pools():
    single = TeacherSpec(kind="openai", base_url="http://localhost:8000/v1", model="m")
    assert single.endpoints is None and not single.batch
    pool = _spec(["http://a:1/v1/", "http://b:2/v1"], [2, 1])
    assert [e.base_url for e in pool.endpoints or []] == ["http://a:1/v1", "http://b:2/v1"]
    for bad, words in [
        ({"base_url": "http://a:1/v1"}, "not both"),
        ({"kind": "embedded"}, "kind: openai"),
        ({"endpoints": []}, "empty"),
        ({"endpoints": [{"base_url": "http://a:1/v1"}, {"base_url": "http://a:1/v1"}]},
         "twice"),
        ({"endpoints": [{"base_url": "gpu1:8000"}]}, r"http\(s\) URL"),
        ({"endpoints": [{"base_url": "http://a:1/v1", "weight": 0}]}, "greater than 0"),
    ]:
        fields = {"kind": "openai", "model": "m",
                  "endpoints": [{"base_url": "http://a:1/v1"}], **bad}
        with pytest.raises(ValueError, match=words):
            TeacherSpec.model_validate(fields)


def test_pick_balances_outstanding_per_weight_and_skips_servers_that_are_down():
    a, b, c = (Member(f"http://{n}:1/v1", "m", w, "k") for n, w in (("a", 2), ("b", 1), ("c", 1)))
    pool = EndpointPool([a, b, c], down_s=60)
    picked = []
    for _ in range(8):  # nothing comes back: each pick adds one outstanding request
        m = pool.pick()
        assert m is not None
        pool.begin(m)
        picked.append(m.base_url[7])
    assert picked.count("a") == 4 and picked.count("b") == 2 and picked.count("c") == 2
    assert picked[0] == "a"  # ties go to the heavier server
    started = pool.begin(b)
    assert pool.end(b, started, failure_kind="unreachable") is True  # left out
    assert pool.end(c, pool.begin(c), failure_kind="bad_request") is False  # the request's fault
    assert all(pool.pick() is not b for _ in range(5))
    assert pool.figures()["http://b:1/v1"]["failures"] == 1 and not pool.wait_s()


def test_requests_spread_over_three_servers_with_figures_in_the_audit(db_path):
    with FakeServer(api_key=KEY, delay_s=0.02) as s1, FakeServer(api_key=KEY, delay_s=0.02) \
            as s2, FakeServer(api_key=KEY, delay_s=0.02) as s3, Store(db_path) as store:
        run_id = _run(store)
        with open_teacher(_spec([s1.url, s2.url, s3.url]), store=store, run_id=run_id,
                          stage="gen") as teacher:
            results = teacher.chat_many(_asks(30))
            figures = teacher.pool.figures() if teacher.pool else {}
        assert all(r.ok for r in results)
        counts = [s.answered for s in (s1, s2, s3)]
        assert sum(counts) == 30 and min(counts) >= 7, counts  # 6 in flight, 2 per server
        audit = {f.endpoint: f for f in calls.by_endpoint(store, run_id)}
        for server in (s1, s2, s3):
            row = audit[server.url]
            assert (row.requests, row.answers, row.failures) == (server.answered,) * 2 + (0,)
            assert figures[server.url]["requests"] == server.answered
            assert row.tokens == figures[server.url]["tokens"] > 0
            assert row.mean_latency_s >= 0.02
        shown = _show(db_path, run_id)
        assert "teacher endpoints" in shown and all(s.url in shown for s in (s1, s2, s3))
        # the cache names the pool, not the server: asked again in another order, nothing
        # is sent
        again = _spec([s3.url, s1.url, s2.url])
        with open_teacher(again, store=store, run_id=run_id, stage="gen") as teacher:
            assert all(r.cached for r in teacher.chat_many(_asks(30)))
        assert sum(s.chat_requests for s in (s1, s2, s3)) == 30


def test_a_server_killed_mid_stage_its_requests_go_elsewhere_nothing_paid_twice(db_path):
    proc, doomed = _start_process_server(0.05)
    try:
        with FakeServer(delay_s=0.05) as s1, FakeServer(delay_s=0.05) as s2, \
                Store(db_path) as store:
            run_id = _run(store)
            killed = []

            def progress(done: int, total: int) -> None:
                if done >= 10 and not killed:  # requests are in flight on every server now
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(5)
                    killed.append(done)

            spec = _spec([s1.url, s2.url, doomed], api_key_env=None)
            with open_teacher(spec, store=store, run_id=run_id, stage="gen") as teacher:
                results = teacher.chat_many(_asks(60), progress=progress)
            assert killed and all(r.ok for r in results) and len(results) == 60
            # every request has exactly one paid answer; the budget counts exactly those
            rows = store.query("SELECT cache_key, COUNT(*) FROM teacher_calls WHERE run_id = ? "
                               "AND error IS NULL GROUP BY cache_key", (run_id,))
            assert len(rows) == 60 and all(r[1] == 1 for r in rows)
            paid = calls.accounting(store, run_id)
            assert paid.answers_paid == 60
            assert paid.usd_paid == pytest.approx(sum(r.cost_usd for r in results))
            audit = {f.endpoint: f for f in calls.by_endpoint(store, run_id)}
            assert audit[doomed].failures >= 1  # its dropped or refused requests, in the audit
            assert audit[doomed].answers >= 1  # it answered before it died
            assert audit[s1.url].answers + audit[s2.url].answers + audit[doomed].answers == 60
            assert s1.answered + s2.answered == audit[s1.url].answers + audit[s2.url].answers
            assert audit[s1.url].failures == audit[s2.url].failures == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_every_server_down_stops_with_the_pool_named(db_path):
    with FakeServer() as alive:
        dead = alive.url
    spec = _spec([dead], api_key_env=None, max_retries=2, endpoint_down_s=0.05)
    with Store(db_path) as store, open_teacher(spec, store=store, run_id=_run(store),
                                               stage="gen", backoff_s=0.05) as teacher, \
            pytest.raises(TeacherError, match="pool:") as caught:
        teacher.chat_many(_asks(1))
    assert caught.value.kind == "unreachable"
    assert isinstance(caught.value, DistillabError)
