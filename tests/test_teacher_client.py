"""The teacher client against our fault-injecting OpenAI-protocol server (real HTTP on loopback)."""

from __future__ import annotations

import asyncio
import time

import pytest

from engine.errors import DistillabError
from engine.recipes import BudgetSpec, TeacherSpec
from engine.store import Store, calls
from engine.teacher import BudgetExhausted, Request, TeacherError, open_teacher
from engine.teacher.limits import RateLimiter
from engine.teacher.prices import load_prices, price_for

from .fake_openai_server import FakeServer

KEY = "sk-test-fake-key-5678"


@pytest.fixture
def server():
    with FakeServer(api_key=KEY) as srv:
        yield srv


@pytest.fixture(params=["lean", "openai"])
def client_path(request, monkeypatch):
    """Run a test over both request paths: the lean one for this machine's endpoints
    (engine/teacher/lean.py) and the ``openai`` client's own, which remote endpoints take."""
    if request.param == "openai":
        monkeypatch.setattr("engine.teacher.clients.LOCAL_HOSTS", frozenset())
    return request.param


@pytest.fixture
def store(db_path):
    with Store(db_path) as s:
        yield s


def _spec(server: FakeServer, **kw) -> TeacherSpec:
    fields = {"kind": "openai", "base_url": server.url, "model": "fake-model",
              "api_key_env": "FAKE_TEACHER_KEY", "use_keyring": False, "timeout_s": 5.0,
              "max_retries": 3, **kw}
    return TeacherSpec(**fields)


def _ask(text: str, **kw) -> Request:
    return Request(messages=[{"role": "user", "content": text}], **kw)


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("FAKE_TEACHER_KEY", KEY)


def _errors(store: Store) -> list[str]:
    return [r[0] for r in store.query("SELECT error FROM teacher_calls WHERE error IS NOT NULL "
                                      "ORDER BY id")]


def test_samples_logprobs_reasoning_and_audit_rows(server, store, client_path):
    spec = _spec(server, model="fake-reasoner", price_input_per_m=1.0, price_output_per_m=2.0)
    with open_teacher(spec, store=store, stage="s1", backoff_s=0.01) as teacher:
        results = teacher.chat_many([_ask(f"q{i}", n=3, logprobs=True, seed=7, tag=i)
                                     for i in range(4)])
    assert server.chat_requests == 4  # n=3 honoured: one request each
    assert [r.tag for r in results] == [0, 1, 2, 3]
    first = results[0]
    assert first.ok and not first.cached and len(first.completions) == 3
    assert [c.text for c in first.completions] == [f"echo {i} seed 7: q0" for i in range(3)]
    assert first.completions[0].reasoning_content == "thinking about q0"
    assert first.completions[0].logprobs[0]["token"] == "echo"
    assert first.tokens_in == 1 and first.tokens_out == 15
    assert first.cost_usd == pytest.approx((1 * 1.0 + 15 * 2.0) / 1e6)
    rows = store.query("SELECT * FROM teacher_calls ORDER BY id")
    assert len(rows) == 12 and {r["stage"] for r in rows} == {"s1"}
    assert sum(r["tokens_out"] for r in rows) == 60 and sum(r["tokens_in"] for r in rows) == 4
    assert len({r["cache_key"] for r in rows}) == 12
    assert calls.totals(store, 0).calls == 0  # rows without a run count for no run


def test_rerun_sends_nothing_and_partial_sample_cache(server, store):
    spec = _spec(server)
    requests = [_ask(f"item {i}", n=2) for i in range(5)]
    with open_teacher(spec, store=store) as teacher:
        teacher.chat_many(requests)
    sent = server.chat_requests
    with open_teacher(spec, store=store) as teacher:
        again = teacher.chat_many(requests)
        assert server.chat_requests == sent  # zero HTTP requests, counted at the server
        assert all(r.cached and r.cost_usd == 0 for r in again)
        assert again[0].completions[1].text == "echo 1 seed None: item 0"
        more = teacher.chat(_ask("item 0", n=3))  # samples 0,1 cached: only 1 more is asked
    assert server.chat_requests == sent + 1 and server.bodies[-1].get("n") is None
    assert [c.cached for c in more.completions] == [True, True, False]
    assert more.completions[2].text.startswith("echo 0")  # the server's first choice


def test_duplicate_requests_in_a_batch_are_sent_once(server, store):
    with open_teacher(_spec(server), store=store) as teacher:
        results = teacher.chat_many([_ask("same", tag="a"), _ask("same", tag="b")])
    assert server.chat_requests == 1
    assert [r.tag for r in results] == ["a", "b"] and results[1].text == results[0].text


def test_429_retry_after_is_honoured(server, store, client_path):
    server.faults.extend(["429:0.4", "429:0.4"])
    with open_teacher(_spec(server), store=store, backoff_s=0.01) as teacher:
        t0 = time.monotonic()
        result = teacher.chat(_ask("wait for me"))
        took = time.monotonic() - t0
    assert result.ok and took >= 0.8  # two Retry-After waits, not the 10 ms backoff
    assert server.chat_requests == 3
    assert [e.split(":")[0] for e in _errors(store)] == ["rate_limited", "rate_limited"]


def test_500_then_success_and_slow_response_past_timeout(server, store, client_path):
    server.faults.extend(["500", "slow:3", "503"])
    with open_teacher(_spec(server, timeout_s=0.5), store=store, backoff_s=0.01) as teacher:
        result = teacher.chat(_ask("flaky"))
    assert result.ok and result.text == "echo 0 seed None: flaky"
    assert [e.split(":")[0] for e in _errors(store)] == ["server_error", "timeout", "server_error"]


def test_malformed_json_and_dropped_connection_are_retried(server, store, client_path):
    server.faults.extend(["malformed", "drop"])
    with open_teacher(_spec(server), store=store, backoff_s=0.01) as teacher:
        result = teacher.chat(_ask("glitch"))
    assert result.ok
    assert [e.split(":")[0] for e in _errors(store)] == ["malformed", "connection"]


def test_failure_after_retries_is_an_error_object_not_a_crash(server, store, client_path):
    server.faults.extend(["500"] * 3)  # 2 retries -> 3 attempts, all 500
    spec = _spec(server, max_retries=2, concurrency=1)  # one at a time: "doomed" goes first
    with open_teacher(spec, store=store, backoff_s=0.01) as teacher:
        failed, fine = teacher.chat_many([_ask("doomed"), _ask("fine")])
    assert fine.ok and not failed.ok and failed.completions == []
    assert failed.error.kind == "server_error" and failed.error.attempts == 3
    assert "server" in str(failed.error)


def test_context_too_long_and_content_filter_are_per_item(server, store, client_path):
    server.faults.extend(["context"])
    with open_teacher(_spec(server), store=store, backoff_s=0.01) as teacher:
        result = teacher.chat(_ask("a very long prompt"))
        assert result.error.kind == "context_too_long" and server.chat_requests == 1
        server.faults.append("filter")
        filtered = teacher.chat(_ask("something rude"))
    assert filtered.error.kind == "content_filtered"
    assert filtered.completions[0].finish_reason == "content_filter"


def test_wrong_key_unknown_model_unreachable_raise_with_the_fix(server, store, client_path, monkeypatch):
    monkeypatch.setenv("FAKE_TEACHER_KEY", "sk-wrong-key-000000")
    with open_teacher(_spec(server), store=store, backoff_s=0.01) as teacher, \
            pytest.raises(TeacherError) as info:
        teacher.chat_many([_ask(f"q{i}") for i in range(5)])
    assert info.value.kind == "auth" and server.url in str(info.value)
    assert "api_key_env" in info.value.hint
    assert "sk-wrong-key-000000" not in str(info.value)
    monkeypatch.setenv("FAKE_TEACHER_KEY", KEY)
    with open_teacher(_spec(server, model="no-such-model"), store=store) as teacher, \
            pytest.raises(TeacherError) as info:
        teacher.chat(_ask("hello"))
    assert info.value.kind == "not_found" and "no-such-model" in str(info.value)
    assert "teacher.model" in info.value.hint
    dead = TeacherSpec(kind="openai", base_url="http://127.0.0.1:9/v1", model="m",
                       max_retries=1)
    with open_teacher(dead, store=store, backoff_s=0.01) as teacher, \
            pytest.raises(TeacherError) as info:
        teacher.chat(_ask("anyone?"))
    assert info.value.kind == "unreachable" and "127.0.0.1:9" in str(info.value)


def test_budget_stops_cleanly_and_keeps_finished_results(server, store):
    from engine.store import runs

    run = runs.create_run(store, name="b", paradigm="smoke", recipe_yaml="x", seed=0,
                          stage_names=["gen"], teacher={"budget": {"max_tokens": 40}})
    spec = _spec(server, concurrency=1, budget=BudgetSpec(max_tokens=40))
    requests = [_ask(f"question number {i}") for i in range(10)]  # 3 + 7 tokens each
    with open_teacher(spec, store=store, run_id=run.id, stage="gen") as teacher, \
            pytest.raises(BudgetExhausted) as info:
        teacher.chat_many(requests)
    assert "distillab teacher budget" in info.value.hint and "resume" in info.value.hint
    done = [r for r in info.value.results if r is not None]
    assert len(done) == 4 and all(r.ok for r in done)  # 4 * 10 >= 40: the 5th is not sent
    assert server.chat_requests == 4
    assert calls.totals(store, run.id).tokens == 40
    from engine.teacher import raise_budget

    raise_budget(store, run.id, max_tokens=1000)
    with open_teacher(spec, store=store, run_id=run.id, stage="gen") as teacher:
        results = teacher.chat_many(requests)
    assert all(r.ok for r in results) and server.chat_requests == 10
    assert sum(r.cached for r in results) == 4
    assert calls.totals_by_stage(store, run.id)["gen"].calls == 10


def test_usd_budget_needs_a_price(server, store):
    spec = TeacherSpec(kind="openai", base_url="https://example.invalid/v1", model="mystery",
                       api_key_env="FAKE_TEACHER_KEY", budget=BudgetSpec(max_usd=1.0))
    with pytest.raises(DistillabError, match="no price for model 'mystery'"):
        open_teacher(spec, store=store)


def test_requests_per_minute_spaces_requests(server, store):
    spec = _spec(server, requests_per_minute=600)  # one every 0.1 s
    with open_teacher(spec, store=store) as teacher:
        t0 = time.monotonic()
        teacher.chat_many([_ask(f"r{i}") for i in range(6)])
        assert time.monotonic() - t0 >= 0.45


def test_token_limit_waits_for_the_window():
    async def two() -> float:
        limiter = RateLimiter(tokens_per_minute=100)
        await limiter.acquire(60)
        limiter._window[0] = (limiter._window[0][0] - 59.8, 60)  # sent almost a minute ago
        t0 = time.monotonic()
        await limiter.acquire(60)  # 120 > 100: waits until the first leaves the window
        return time.monotonic() - t0

    assert 0.1 <= asyncio.run(two()) < 2


def test_streaming_yields_pieces_and_is_cached(server, store):
    with open_teacher(_spec(server), store=store) as teacher:
        pieces = list(teacher.stream(_ask("stream this")))
        assert len(pieces) > 3 and pieces[-1].finish_reason == "stop"
        text = "".join(p.text for p in pieces)
        assert text.strip() == "echo 0 seed None: stream this"
        sent = server.chat_requests
        again = list(teacher.stream(_ask("stream this")))
    assert server.chat_requests == sent and again[0].text.strip() == text.strip()


def test_progress_and_cancel(server, store):
    from engine.errors import Cancelled

    seen = []
    with open_teacher(_spec(server, concurrency=1), store=store) as teacher:
        teacher.chat_many([_ask(f"p{i}") for i in range(3)], progress=lambda d, t: seen.append((d, t)))
        assert seen[-1] == (3, 3)
        with pytest.raises(Cancelled):
            teacher.chat_many([_ask(f"c{i}") for i in range(5)],
                              should_stop=lambda: server.chat_requests >= 5)
    assert server.chat_requests == 5  # 3 + 2, then the stop flag held the rest back


def test_price_table_defaults_overrides_and_local_hosts(tmp_path):
    (tmp_path / "prices.json").write_text('{"my-model": {"input": 1, "output": 3}}')
    table = load_prices(tmp_path / "prices.json")
    assert price_for("gpt-4o-mini-2024-07-18", base_url=None, table=table).input_per_m == 0.15
    assert price_for("my-model", base_url="https://x.ai/v1", table=table).output_per_m == 3
    assert price_for("unknown", base_url="https://x.ai/v1", table=table) is None
    assert price_for("unknown", base_url="http://localhost:8000/v1", table=table).cost(9, 9) == 0
    assert price_for("gpt-4o", base_url=None, override=(1.0, None), table=table).output_per_m == 0
    (tmp_path / "bad.json").write_text('{"m": {"in": 1}}')
    with pytest.raises(DistillabError, match="price table"):
        load_prices(tmp_path / "bad.json")


def test_local_transport_reads_chunked_bodies_and_drops_closed_connections():
    from engine.teacher.transport import LocalTransport

    async def scenario() -> list[bytes]:
        async def handle(reader, writer):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                         b"Connection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport = LocalTransport()
        request = b"POST /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}"
        bodies = []
        for _ in range(2):  # "Connection: close": each on a fresh connection
            status, headers, body = await transport.exchange("127.0.0.1", port, request,
                                                             {"read": 5.0, "connect": 5.0})
            assert status == 200 and (b"Transfer-Encoding", b"chunked") not in headers
            bodies.append(body)
        assert transport._idle == []
        await transport.aclose()
        server.close()
        return bodies

    assert asyncio.run(scenario()) == [b"hello world", b"hello world"]


def test_lean_path_sends_what_the_openai_client_sends(server, store, monkeypatch):
    """Same headers (the key's included) and the same JSON body, whichever path sends."""
    request = _ask("same bytes?", n=2, seed=3, logprobs=True, top_p=0.9)
    with open_teacher(_spec(server), store=None) as teacher:
        teacher.chat(request)
        assert teacher._http.lean is not None
    monkeypatch.setattr("engine.teacher.clients.LOCAL_HOSTS", frozenset())
    with open_teacher(_spec(server), store=None) as teacher:
        teacher.chat(request)
        assert teacher._http.lean is None
    lean, sdk = server.headers
    assert server.bodies[0] == server.bodies[1]
    assert lean.pop("accept-encoding") == "identity"  # the lean path asks for no compression
    sdk.pop("accept-encoding")
    assert lean.pop("content-length") == sdk.pop("content-length")  # same compact JSON
    assert lean == sdk and lean["authorization"] == f"Bearer {KEY}"


def test_audit_rows_commit_per_tick_and_a_refused_write_stops_with_a_clear_error(
        server, store, monkeypatch):
    import sqlite3

    writes: list[int] = []
    keys: set[str] = set()  # every answer the client took in
    fail_next = [False]
    real = calls.record_rows

    def counting(store_, rows):
        writes.append(len(rows))
        keys.update(r["cache_key"] for r in rows)
        if fail_next[0]:
            fail_next[0] = False
            raise sqlite3.OperationalError("database or disk is full")
        real(store_, rows)

    monkeypatch.setattr(calls, "record_rows", counting)
    with open_teacher(_spec(server, concurrency=8), store=store) as teacher:
        teacher.chat_many([_ask(f"batch {i}") for i in range(40)])
        assert sum(writes) == 40 and len(writes) < 40  # answers share commits
        fail_next[0] = True
        with pytest.raises(DistillabError) as info:
            teacher.chat_many([_ask(f"later {i}") for i in range(40)])
    assert "database or disk is full" in str(info.value) and str(store.path) in str(info.value)
    assert "resume" in info.value.hint
    writes.clear()
    with open_teacher(_spec(server, concurrency=8), store=store) as teacher:
        teacher.chat_many([_ask(f"after {i}") for i in range(40)])
    assert sum(writes) == 40 and len(writes) > 1  # per-tick commits again, not one at the end
    stored = {r[0] for r in store.query("SELECT cache_key FROM teacher_calls")}
    assert len(keys) > 40 and stored == keys  # the refused rows were written at the end


def test_gc_freeze_is_scoped_to_batches():
    import gc

    from engine.teacher.gcfreeze import frozen_while

    assert gc.get_freeze_count() == 0
    with frozen_while():
        outer = gc.get_freeze_count()
        assert outer > 0
        with frozen_while():  # nested: one freeze, released by the outer exit only
            pass
        assert gc.get_freeze_count() == outer
    assert gc.get_freeze_count() == 0


def test_a_redirect_is_followed_through_the_openai_client(server, store):
    server.faults.append("307")
    with open_teacher(_spec(server), store=store) as teacher:
        result = teacher.chat(_ask("moved?"))
        assert teacher._http.lean is None  # this endpoint redirects: the openai client from now on
        assert teacher.chat(_ask("again")).ok
    assert result.ok and result.text == "echo 0 seed None: moved?"
    assert server.chat_requests == 3 and _errors(store) == []
