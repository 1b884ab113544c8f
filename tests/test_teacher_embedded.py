"""The embedded teacher: llama-cpp-python's server on the bundled SmolLM2 GGUF, on loopback.

One server for the module (starting one takes ~2 s); a second, started by a child
process that is then killed with SIGKILL, checks that no server is left behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.recipes import TeacherSpec
from engine.store import Store, calls
from engine.teacher import Request, TeacherError, open_teacher
from engine.teacher.probe import probe_endpoint

from .conftest import ROOT

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("embedded") / "p.db")
    with open_teacher(TeacherSpec(max_tokens=12, temperature=0.8), store=store,
                      stage="gen") as t:
        yield t
    store.close()


def _ask(text: str, **kw) -> Request:
    return Request(messages=[{"role": "user", "content": text}], **kw)


def _alive(pid: int) -> bool:
    """Running and not a zombie (a reparented child may wait a while to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_chat_is_cached_and_costs_nothing(teacher):
    result = teacher.chat(_ask("What is 2+3?", temperature=0.0, max_tokens=10))
    assert result.ok and result.text.strip() and not result.cached
    assert result.completions[0].finish_reason in ("stop", "length")
    assert result.tokens_in > 5 and 0 < result.tokens_out <= 10 and result.cost_usd == 0
    assert teacher.identity.startswith("embedded:SmolLM2-135M-Instruct.Q4_1.gguf@")
    again = teacher.chat(_ask("What is 2+3?", temperature=0.0, max_tokens=10))
    assert again.cached and again.text == result.text
    assert calls.totals_by_stage(teacher.store, 0) == {}  # no run: rows carry run_id NULL
    row = teacher.store.one("SELECT endpoint, model, stage FROM teacher_calls LIMIT 1")
    assert tuple(row) == (teacher.identity, "embedded", "gen")


def test_n_samples_fall_back_to_one_request_each_with_their_own_seed(teacher):
    result = teacher.chat(_ask("Name a fruit.", n=3, seed=11))
    assert result.ok and len(result.completions) == 3
    assert [c.sample_index for c in result.completions] == [0, 1, 2]
    assert teacher._n_ok is False  # llama.cpp's server returns one choice whatever n says
    assert len({c.text for c in result.completions}) >= 2  # seeds 11, 12, 13 differ


def test_logprobs(teacher):
    result = teacher.chat(_ask("Say hello.", logprobs=True, top_logprobs=2, max_tokens=5))
    logprobs = result.completions[0].logprobs
    assert result.ok and logprobs and len(logprobs) == result.tokens_out
    assert all(p["logprob"] <= 0 for p in logprobs)
    assert all(len(p["top_logprobs"]) >= 2 for p in logprobs)


def test_stream_and_probe(teacher):
    pieces = list(teacher.stream(_ask("Count to three.", max_tokens=8)))
    assert len([p for p in pieces if p.text]) >= 2
    assert pieces[-1].finish_reason in ("stop", "length")
    report = probe_endpoint(teacher.base_url, teacher.model, teacher._key)
    assert report.models == ["embedded"] and report.model_listed
    assert report.chat_format and report.answer and report.logprobs
    assert not report.n_samples and not report.reasoning_content
    assert report.latency_s is not None and report.latency_s > 0


def test_server_needs_its_session_key(teacher):
    spec = TeacherSpec(kind="openai", base_url=teacher.base_url, model="embedded",
                       use_keyring=False, max_retries=0)
    with open_teacher(spec) as stranger, pytest.raises(TeacherError) as info:
        stranger.chat(_ask("hi"))
    assert info.value.kind == "auth"


def test_a_bad_gguf_path_is_a_clear_error(tmp_path):
    with pytest.raises(TeacherError, match="not a GGUF file"):
        open_teacher(TeacherSpec(model=str(tmp_path / "missing.gguf")))
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF but not really")
    with pytest.raises(TeacherError, match=r"llama\.cpp server exited") as info:
        open_teacher(TeacherSpec(model=str(broken)))
    assert "failed to load model" in str(info.value).lower()  # the server's own log, read back


CHILD = """
import sys, time
from engine.recipes import TeacherSpec
from engine.teacher import open_teacher
teacher = open_teacher(TeacherSpec())
print(teacher.server.pid, flush=True)
time.sleep(120)
"""


def test_no_orphan_server_after_the_engine_is_killed(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}
    parent = subprocess.Popen([sys.executable, "-c", CHILD], stdout=subprocess.PIPE,
                              text=True, env=env, cwd=ROOT)
    try:
        assert parent.stdout is not None
        server_pid = int(parent.stdout.readline())
        assert _alive(server_pid)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while _alive(server_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(server_pid), "the llama.cpp server outlived its parent"
        assert list(tmp_path.iterdir()) == []  # not even the server's log file is left
    finally:
        if parent.poll() is None:
            parent.kill()


def test_close_stops_the_server():
    teacher = open_teacher(TeacherSpec())
    assert teacher.server is not None
    pid = teacher.server.pid
    assert pid is not None and _alive(pid)
    teacher.close()
    assert not _alive(pid)


def test_a_session_key_starting_with_a_dash_reaches_the_server(monkeypatch):
    """token_urlsafe keys start with '-' one time in 64; argparse must not take it for a flag."""
    import engine.teacher.local as local

    monkeypatch.setattr(local.secrets, "token_urlsafe", lambda n: "-dash-first-key")
    teacher = open_teacher(TeacherSpec())
    try:
        assert teacher.server is not None and teacher.server.api_key == "-dash-first-key"
        assert teacher.chat(Request(messages=[{"role": "user", "content": "Hi"}],
                                    max_tokens=4)).ok
    finally:
        teacher.close()
