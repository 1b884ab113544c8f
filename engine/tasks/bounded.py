"""Run a call with a hard time limit: in a helper process that is killed when time is up.

Symbolic algebra (sympy) cannot be interrupted from inside Python: one big-integer power
holds the interpreter for minutes, ``signal.alarm`` works only in the main thread of the
main interpreter, and a thread cannot be stopped. So the work runs in helper processes
(plain ``subprocess``: allowed inside daemonic job workers, where ``multiprocessing``
children are not), one JSON request and reply per line. A call that is not answered in
time kills its helper; the caller gets ``{"equal": False, "reason": "timed out ..."}``-style
replies from :meth:`Helpers.call`. A spare helper is kept started, so a kill costs the next
call nothing, and helpers start once (the import of sympy, ~1 s, is not part of any limit).

``helpers()`` is the process-wide pool for :func:`engine.tasks.mathanswer.helper_call`;
safe to call from any thread. Knows nothing of mathematics.
"""

from __future__ import annotations

import atexit
import importlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]  # the folder that holds the engine package
START_TIMEOUT_S = 120.0  # a helper that has not imported sympy by then is broken
TARGET = "engine.tasks.mathanswer:helper_call"


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
        self.ready = False
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
        if not self.ready:
            try:
                first = self.replies.get(timeout=START_TIMEOUT_S)
            except queue.Empty:
                first = None
            self.ready = first is not None and bool(first.get("ready"))
        return self.ready

    def kill(self) -> None:
        try:
            self.proc.kill()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for stream in (self.stdin, self.proc.stdout):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass


class Helpers:
    """A pool of helper processes running ``target`` (``"module:function"``, a function of
    one JSON-able request that returns a JSON-able dict)."""

    def __init__(self, target: str = TARGET, spare: int = 1) -> None:
        self.target = target
        self.spare = spare
        self._idle: queue.Queue[_Helper] = queue.Queue()
        self._lock = threading.Lock()
        self._all: list[_Helper] = []

    def _start(self) -> None:
        helper = _Helper(self.target)
        with self._lock:
            self._all.append(helper)
        self._idle.put(helper)

    def _take(self) -> _Helper:
        try:
            helper = self._idle.get_nowait()
        except queue.Empty:
            self._start()
            helper = self._idle.get()
        if self._idle.qsize() < self.spare:
            self._start()  # started now, ready by the next call (Popen does not wait)
        return helper

    def _drop(self, helper: _Helper) -> None:
        helper.kill()
        with self._lock:
            if helper in self._all:
                self._all.remove(helper)

    def call(self, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """The helper's reply, or ``{"equal": False, "reason": ...}`` when it did not answer
        within ``timeout_s`` seconds (it is killed) or failed."""
        helper = self._take()
        if not helper.wait_ready():
            self._drop(helper)
            return {"equal": False, "reason": "the symbolic helper did not start"}
        start = time.monotonic()
        try:
            helper.stdin.write(json.dumps(request).encode() + b"\n")
            helper.stdin.flush()
            reply = helper.replies.get(timeout=timeout_s)
        except queue.Empty:
            self._drop(helper)
            return {"equal": False, "reason": f"timed out after {timeout_s:g} s "
                                              "(symbolic check stopped)"}
        except OSError as exc:
            reply = {"error": repr(exc)}
        if reply is None or "error" in reply:
            self._drop(helper)
            why = "it ended" if reply is None else reply["error"]
            return {"equal": False, "reason": f"symbolic check failed: {why}"}
        reply["time_s"] = round(time.monotonic() - start, 4)
        self._idle.put(helper)
        return reply

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


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this helper when its parent dies (even with SIGKILL), so
    a helper stuck in a long computation is never left behind."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(0)


def serve() -> None:
    """The helper's main loop: ``argv`` = target, parent pid; one JSON request per line."""
    target, parent = sys.argv[1], int(sys.argv[2])
    _die_with_parent(parent)
    module, name = target.split(":")
    func = getattr(importlib.import_module(module), name)
    out = sys.stdout.buffer

    def send(reply: dict[str, Any]) -> None:
        out.write(json.dumps(reply).encode() + b"\n")
        out.flush()

    send(func(None))
    for line in sys.stdin.buffer:
        try:
            send(func(json.loads(line)))
        except Exception as exc:  # a bug in the target must not end the helper silently
            send({"error": repr(exc)})
