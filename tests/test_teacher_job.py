"""The teacher inside a real job: budget stop and resume, re-runs from the cache, no key leaks.

A tiny paradigm (registered for these tests only) asks the teacher one question per
item, the way the real paradigms do, against our fake OpenAI-protocol server on loopback.
"""

from __future__ import annotations

import logging

import keyring
import keyring.backend
import pytest
from pydantic import BaseModel, ConfigDict

from engine import runner
from engine.cli import main
from engine.paradigms import PARADIGMS, Paradigm, StageSpec
from engine.stage import StageContext
from engine.store import Store, calls, runs, traces
from engine.teacher import BudgetExhausted, Request, Result, open_teacher
from engine.teacher.keys import resolve_key, store_key
from engine.validate import parse_recipe

from .conftest import write_jsonl
from .fake_openai_server import FakeServer

SECRET = "sk-test-DISTILLAB-SECRET-1234"


class AskParams(BaseModel):
    model_config = ConfigDict(extra="forbid")


def ask(ctx: StageContext) -> None:
    """Ask the teacher each item's question; store the answers as traces."""
    units = list(ctx.pending(ctx.items(), key=lambda item: item.item_hash))

    def keep(results: list[Result | None]) -> None:
        for result in results:
            if result is None:
                continue
            unit = result.tag
            with ctx.commit(unit):
                ctx.trace(role="teacher", item_id=unit.value.id, output=result.text,
                          model="fake-model", tokens_in=result.tokens_in,
                          tokens_out=result.tokens_out, cost_usd=result.cost_usd,
                          flag=None if result.ok else str(result.error))

    with open_teacher(ctx.recipe.teacher, store=ctx.store, run_id=ctx.run_id,
                      stage=ctx.stage, backoff_s=0.01) as teacher:
        requests = [Request(messages=[{"role": "user", "content": u.value.data["question"]}],
                            tag=u) for u in units]
        try:
            results: list[Result | None] = list(teacher.chat_many(requests))
        except BudgetExhausted as stop:
            keep(stop.results)  # what finished before the cap is kept
            raise
        keep(results)


@pytest.fixture
def ask_paradigm(monkeypatch):
    paradigm = Paradigm("asktest", "Ask", "(test)", "asks the teacher",
                        (StageSpec("ask", ask, AskParams, "ask each question"),))
    monkeypatch.setitem(PARADIGMS, "asktest", paradigm)


def _recipe(tmp_path, rows, url: str, budget: str = "") -> str:
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    return (f"schema_version: 1\nname: ask\nparadigm: asktest\nseed: 1\n"
            f"dataset:\n  path: {data}\n  split: {{train: 1.0}}\n"
            f"teacher:\n  kind: openai\n  base_url: {url}\n  model: fake-model\n"
            f"  api_key_env: DISTILLAB_TEST_KEY\n  use_keyring: false\n  concurrency: 2\n"
            f"{budget}")


def test_budget_stop_resume_rerun_and_the_key_never_stored(
        tmp_path, db_path, math_rows, ask_paradigm, monkeypatch, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("DISTILLAB_TEST_KEY", SECRET)
    events = []
    with FakeServer(api_key=SECRET) as server:
        text = _recipe(tmp_path, math_rows, server.url, "  budget: {max_tokens: 60}\n")
        loaded = parse_recipe(text, str(tmp_path / "r.yaml"), tmp_path)
        run_id, status = runner.run_recipe(loaded, db_path, on_event=events.append)
        assert status == "stopped"
        with Store(db_path) as store:
            run = runs.get_run(store, run_id)
            assert "teacher budget reached" in run.error and "resume" in run.error
            kept = traces.count_traces(store, run_id)
            spent = calls.totals(store, run_id)
        # 14 tokens a call (5 in, 9 out), 2 in flight: it stops once 60 are spent and may
        # overshoot by the calls in flight.
        assert 5 <= kept < 10 and 60 <= spent.tokens <= 60 + 2 * 14 and spent.calls == kept
        assert server.chat_requests == kept

        assert main(["teacher", "budget", str(run_id), "--max-tokens", "10000",
                     "--db", str(db_path)]) == 0
        assert main(["resume", str(run_id), "--db", str(db_path)]) == 0
        assert server.chat_requests == 10  # only the missing items were asked
        with Store(db_path) as store:
            assert traces.count_traces(store, run_id) == 10
            assert calls.totals_by_stage(store, run_id)["ask"].calls == 10

        again, status = runner.run_recipe(loaded, db_path, on_event=events.append)
        assert status == "completed" and again != run_id
        assert server.chat_requests == 10  # a re-run sends nothing: all from the cache
        with Store(db_path) as store:
            assert traces.count_traces(store, again) == 10
        assert main(["export", str(run_id), "--db", str(db_path),
                     "--out", str(tmp_path / "out.jsonl")]) == 0

    secret = SECRET.encode()
    for path in (db_path, db_path.with_name(db_path.name + "-wal"), tmp_path / "out.jsonl"):
        if path.exists():
            assert secret not in path.read_bytes(), path
    captured = capsys.readouterr()
    assert SECRET not in captured.out + captured.err
    assert SECRET not in caplog.text and "HTTP" in caplog.text  # debug logs were captured
    assert SECRET not in repr(events)


def test_wrong_key_fails_the_run_with_one_clear_message(tmp_path, db_path, math_rows,
                                                         ask_paradigm, monkeypatch):
    monkeypatch.setenv("DISTILLAB_TEST_KEY", "sk-test-WRONG-0000")
    with FakeServer(api_key=SECRET) as server:
        loaded = parse_recipe(_recipe(tmp_path, math_rows, server.url), "r.yaml", tmp_path)
        run_id, status = runner.run_recipe(loaded, db_path)
    assert status == "failed"
    with Store(db_path) as store:
        error = runs.get_run(store, run_id).error
    assert "401" in error and server.url in error and "api_key_env" in error
    assert "sk-test-WRONG-0000" not in error


def test_cli_teacher_check_against_the_fake_server(monkeypatch, capsys):
    monkeypatch.setenv("DISTILLAB_TEST_KEY", SECRET)
    with FakeServer(api_key=SECRET) as server:
        assert main(["teacher", "check", "--endpoint", server.url, "--model", "fake-reasoner",
                     "--api-key-env", "DISTILLAB_TEST_KEY"]) == 0
        out = capsys.readouterr().out
        assert "fake-model, fake-reasoner" in out and "latency" in out
        for line in ("chat format        yes", "logprobs           yes",
                     "reasoning_content  yes", "n > 1 samples      yes"):
            assert line in out
        monkeypatch.setenv("DISTILLAB_TEST_KEY", "sk-wrong-0000000")
        assert main(["teacher", "check", "--endpoint", server.url, "--model", "fake-model",
                     "--api-key-env", "DISTILLAB_TEST_KEY"]) == 1
        assert "API key was refused" in capsys.readouterr().err


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring kept in memory: this machine has no OS keyring service to test with."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service, username):
        return self.items.get((service, username))

    def set_password(self, service, username, password):
        self.items[(service, username)] = password

    def delete_password(self, service, username):
        self.items.pop((service, username), None)


def test_key_from_keyring_when_the_environment_has_none(monkeypatch, db_path):
    previous = keyring.get_keyring()
    memory = MemoryKeyring()
    keyring.set_keyring(memory)
    try:
        with FakeServer(api_key=SECRET) as server:
            store_key(server.url, SECRET)
            assert memory.items[("distillab", server.url)] == SECRET
            monkeypatch.delenv("DISTILLAB_TEST_KEY", raising=False)
            assert resolve_key(server.url, "DISTILLAB_TEST_KEY") == SECRET
            assert resolve_key(server.url, "DISTILLAB_TEST_KEY", use_keyring=False) == "no-key"
            from engine.recipes import TeacherSpec

            spec = TeacherSpec(kind="openai", base_url=server.url, model="fake-model",
                               api_key_env="DISTILLAB_TEST_KEY")
            with Store(db_path) as store, open_teacher(spec, store=store) as teacher:
                assert teacher.chat(Request(messages=[{"role": "user", "content": "hi"}])).ok
    finally:
        keyring.set_keyring(previous)
    with pytest.raises(Exception, match="DISTILLAB_TEST_KEY is not set"):
        resolve_key("https://api.example.com/v1", "DISTILLAB_TEST_KEY")
