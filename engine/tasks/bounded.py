"""Run a call with a hard time limit: in a process that is killed when time is up.

Symbolic algebra (sympy) cannot be interrupted from inside Python: one big-integer power
holds the interpreter for minutes, ``signal.alarm`` works only in the main thread of the
main interpreter, and a thread cannot be stopped. So the work runs in helper processes
(plain ``subprocess``, which daemonic job workers may start, unlike ``multiprocessing``
children), one JSON request and reply per line; :meth:`Helpers.call` raises ``TimedOut``
when the reply does not come in time. Safe to call from any thread.

Each helper imports its target once (sympy: ~1 s) and then, where ``os.fork`` exists,
keeps one forked child that computes; the helper itself only relays and watches the
clock. At the limit it kills that child (SIGKILL) and forks a fresh one (~20 ms, nothing
re-imported), so a timeout costs the next call nothing. The child runs with a 2 GiB
address-space limit. Without ``fork`` (Windows) the helper computes itself and the caller
kills and restarts it.

``helpers()`` is the process-wide pool for :func:`engine.tasks.mathanswer.helper_call`.
Knows nothing of mathematics.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]  # the folder that holds the engine package
START_TIMEOUT_S = 120.0  # a helper that has not imported its target by then is broken
RELAY_GRACE_S = 5.0  # on top of the limit: the helper's own kill and reply
CHILD_MEMORY = 2 << 30  # bytes of address space for the computing child
TARGET = "engine.tasks.mathanswer:helper_call"

Target = Callable[[dict[str, Any] | None], dict[str, Any]]


class TimedOut(Exception):
    """The call did not finish within its limit (its process was killed)."""


class HelperFailed(Exception):
    """The helper could not run the call (it did not start, died, or the target raised)."""


class _Helper:
    """One helper process and a thread that reads its replies into a queue."""

    def __init__(self, target: str) -> None:
        code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); "
                "from engine.tasks.bounded import serve; serve()")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, target, str(os.getpid())], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=str(ROOT))
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin: IO[bytes] = self.proc.stdin
        self.replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.forks: bool | None = None  # known once ready
        threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True,
                         name="bounded-helper-reader").start()

    def _read(self, stream: IO[bytes]) -> None:
        for line in stream:
            try:
                self.replies.put(json.loads(line))
            except ValueError:
                continue
        self.replies.put(None)  # the helper ended

    def wait_ready(self) -> bool:
        if self.forks is None:
            try:
                first = self.replies.get(timeout=START_TIMEOUT_S)
            except queue.Empty:
                return False
            if first is None or not first.get("ready"):
                return False
            self.forks = bool(first.get("forks"))
        return True

    def kill(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for stream in (self.stdin, self.proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass


class Helpers:
    """A pool of helper processes running ``target`` (``"module:function"``: a function of
    one JSON-able request, or None to warm up, that returns a JSON-able dict)."""

    def __init__(self, target: str = TARGET) -> None:
        self.target = target
        self._idle: queue.Queue[_Helper] = queue.Queue()
        self._lock = threading.Lock()
        self._all: list[_Helper] = []

    def _take(self) -> _Helper:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            helper = _Helper(self.target)
            with self._lock:
                self._all.append(helper)
            return helper

    def _drop(self, helper: _Helper) -> None:
        helper.kill()
        with self._lock:
            if helper in self._all:
                self._all.remove(helper)

    def call(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """The target's reply to ``request``; ``TimedOut`` when it takes more than
        ``timeout_s`` seconds of work (starting a helper, once, is not counted)."""
        helper = self._take()
        if not helper.wait_ready():
            self._drop(helper)
            raise HelperFailed("the helper process did not start")
        wait = timeout_s + RELAY_GRACE_S if helper.forks else timeout_s
        try:
            helper.stdin.write(json.dumps({"request": request, "timeout_s": timeout_s})
                               .encode() + b"\n")
            helper.stdin.flush()
            reply = helper.replies.get(timeout=wait)
        except queue.Empty:
            self._drop(helper)
            raise TimedOut(f"timed out after {timeout_s:g} s") from None
        except OSError as exc:
            self._drop(helper)
            raise HelperFailed(f"the helper process is gone: {exc}") from None
        if reply is None:
            self._drop(helper)
            raise HelperFailed("the helper process ended")
        self._idle.put(helper)
        if reply.get("timed_out"):
            raise TimedOut(f"timed out after {timeout_s:g} s")
        if "error" in reply:
            raise HelperFailed(str(reply["error"]))
        return dict(reply["reply"])

    def close(self) -> None:
        with self._lock:
            helpers, self._all = list(self._all), []
        for helper in helpers:
            helper.kill()
        self._idle = queue.Queue()


_pool: Helpers | None = None
_pool_lock = threading.Lock()


def helpers() -> Helpers:
    """The process-wide pool (started on first use, closed at exit)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = Helpers()
            atexit.register(_pool.close)
        return _pool


# -- inside the helper process ---------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this process when its parent dies (even by SIGKILL)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(0)


def _run(func: Target, request: dict[str, Any]) -> dict[str, Any]:
    try:
        return {"reply": func(request)}
    except MemoryError:
        return {"error": f"out of memory (limit {CHILD_MEMORY >> 30} GiB)"}
    except Exception as exc:
        return {"error": repr(exc)}


class _Child:
    """A forked process that runs the target on requests sent over a pipe."""

    def __init__(self, func: Target) -> None:
        req_r, self.req_w = os.pipe()
        self.rep_r, rep_w = os.pipe()
        parent = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self.req_w)
            os.close(self.rep_r)
            null = os.open(os.devnull, os.O_RDWR)
            os.dup2(null, 0)
            os.dup2(null, 1)  # a stray print must not reach the reply stream
            _die_with_parent(parent)
            try:
                import resource

                resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))
            except (ImportError, ValueError, OSError):
                pass
            with os.fdopen(req_r, "rb") as requests:
                for line in requests:
                    _write_all(rep_w, json.dumps(_run(func, json.loads(line))).encode() + b"\n")
            os._exit(0)
        os.close(req_r)
        os.close(rep_w)
        self.buffer = b""

    def ask(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any] | None:
        """The reply, or None when the time is up (the child is then killed)."""
        import time

        _write_all(self.req_w, json.dumps(request).encode() + b"\n")
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.rep_r], [], [], max(left, 0))
            if not ready:
                return None
            data = os.read(self.rep_r, 1 << 16)
            if not data:
                return {"error": "the computing process ended"}
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return dict(json.loads(line))

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
        os.waitpid(self.pid, 0)
        os.close(self.req_w)
        os.close(self.rep_r)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def serve() -> None:
    """The helper's main loop: ``argv`` = target, parent pid; one JSON request per line."""
    import gc

    target, parent = sys.argv[1], int(sys.argv[2])
    _die_with_parent(parent)
    module, name = target.split(":")
    func: Target = getattr(importlib.import_module(module), name)
    forks = hasattr(os, "fork")
    out = sys.stdout.buffer

    def send(reply: dict[str, Any]) -> None:
        out.write(json.dumps(reply).encode() + b"\n")
        out.flush()

    func(None)  # warm up: the imports happen here, once
    gc.freeze()  # shared heap stays out of the collector: fewer copied pages per fork
    send({"ready": True, "forks": forks})
    child: _Child | None = None
    for line in sys.stdin.buffer:
        message = json.loads(line)
        if not forks:
            send(_run(func, message["request"]))
            continue
        if child is None:
            child = _Child(func)
        reply = child.ask(message["request"], float(message["timeout_s"]))
        if reply is None or "error" in reply:
            child.kill()  # out of time, or broken: the next request gets a fresh fork
            child = None
        send(reply if reply is not None else {"timed_out": True})
