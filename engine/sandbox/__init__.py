"""Run untrusted generated code with limits, fast: a pool of pre-started forking workers.

``Sandbox(workers=N, ...)`` starts N worker processes (``engine/sandbox/worker.py``, a
plain ``python -I`` with only the standard library and the modules generated code
commonly imports already loaded). For each program a worker forks a fresh child, confines
it and runs the code and its tests in it; no new interpreter starts per program.

Guarantees per program, and how they hold on a Linux machine where the engine runs as
root (these build machines: uid 0, ``unshare`` works; measured 2026-11):

* own work folder as cwd, ``HOME`` and ``TMPDIR``: ``/tmp/work`` on a fresh tmpfs over
  ``/tmp`` that only this program sees and that vanishes with it;
* CPU limit: ``RLIMIT_CPU`` (SIGXCPU at the limit, SIGKILL 1 s later);
* wall-clock limit: the worker kills the program's PID namespace (SIGKILL to its PID 1
  kills every process in it, including any that left the process group);
* memory: ``RLIMIT_AS``; file size: ``RLIMIT_FSIZE`` (writes past it fail with EFBIG);
  total disk: the ``/tmp`` tmpfs holds 4 x the file limit;
* child processes: ``RLIMIT_NPROC`` for a uid of its own per worker (64000 + worker
  index), so a fork bomb stops at ``max_processes``; whatever it left dies with the
  namespace when the program ends;
* minimal environment: ``PATH``, ``HOME``, ``TMPDIR``, ``LANG`` and thread counts only
  (no API keys, no user variables; the workers themselves start with only ``PATH`` and
  ``LANG``); ``/proc`` is remounted, so other processes' command lines and environments
  are not visible;
* no network: the workers live in a network namespace with no interface up, loopback
  included; connecting anywhere fails with "Network is unreachable";
* the project and the home folder are safe: the program runs as that unprivileged uid
  with no groups, so it cannot write root-owned files (the project); the home folder is
  covered by an empty tmpfs; the other folders anyone may write (``/var/tmp``,
  ``/dev/shm``, ``/run/lock``) are covered read-only. It can still read world-readable
  files (the code, data sets);
* the interpreter's folders (prefixes, site-packages, folders ``.pth`` files add) stay
  visible, read-only, at their paths wherever they live, also under ``/tmp`` or the home
  folder (a fresh clone in ``/tmp`` with its ``.venv`` there);
* programs run as the official harnesses run them: compiled with no ``__future__`` flags
  of the worker's, a program with tests as module ``__program__`` (its ``__main__`` block
  does not run), a stdin/stdout program as ``__main__``.

Without root (or where namespaces are refused) the sandbox degrades and says so in
``Sandbox.isolation``: a new session killed as a group, a temp folder per program, a
Python-level guard that makes socket creation fail, and ``RLIMIT_NPROC`` counted against
the user's own processes. The project and home folder are then NOT protected from writes.

A program could in principle forge its own verdict (it runs in the same process as its
tests and can reach the result pipe); generated code does not do this, and the stdin /
stdout comparison happens in the worker, out of its reach. Knows nothing of tasks or data.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from engine.errors import DistillabError

WORKER = Path(__file__).with_name("worker.py")
STATUSES = ("passed", "failed", "timeout", "memory", "error", "killed")
UID_BASE = 64000  # per-worker uids 64000, 64001, ...: unused by any distribution
NOGROUP = 65534


@dataclass(frozen=True)
class Program:
    """Code to run with its tests: Python ``tests`` run after the code, in its namespace
    (each a statement block; the first that raises fails the program), or stdin/stdout
    ``cases`` (each runs the code as a fresh process; output compared token by token with
    float ``tolerance``)."""

    code: str
    tests: tuple[str, ...] = ()
    cases: tuple[tuple[str, str], ...] | None = None
    tolerance: float = 1e-6


@dataclass(frozen=True)
class Result:
    """How a program ended; ``failing_test`` is the index of the first failing test/case."""

    passed: bool
    status: str
    failing_test: int | None = None
    error: str = ""
    stdout: str = ""
    stderr: str = ""
    time_s: float = 0.0

    @property
    def details(self) -> dict[str, Any]:
        """The JSON-able form stored in ``evaluations.details``."""
        return asdict(self)


@dataclass
class _Worker:
    proc: subprocess.Popen[bytes]
    stdin: IO[bytes]
    stdout: IO[bytes]
    caps: dict[str, Any] = field(default_factory=dict)


class Sandbox:
    """A pool of sandbox workers; ``run`` and ``run_many`` are safe to call from threads."""

    def __init__(self, workers: int | None = None, cpu_time_s: float = 5.0,
                 wall_time_s: float = 10.0, memory_mb: int = 1024, file_size_mb: int = 16,
                 max_processes: int = 16) -> None:
        if wall_time_s < cpu_time_s:
            raise DistillabError(f"sandbox wall_time_s {wall_time_s} is below cpu_time_s "
                                 f"{cpu_time_s}", "give the wall clock at least the CPU time")
        self.workers = workers or max(1, os.cpu_count() or 1)
        self.limits = {"cpu_time_s": cpu_time_s, "wall_time_s": wall_time_s,
                       "memory_mb": memory_mb, "file_size_mb": file_size_mb,
                       "max_processes": max_processes}
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._next_id = 0
        self._started = False

    # -- life cycle -------------------------------------------------------------------
    def start(self) -> Sandbox:
        """Start the workers (done on first use); returns self."""
        with self._lock:
            if not self._started:
                for index in range(self.workers):
                    worker = self._spawn(index)
                    self._all.append(worker)
                    self._idle.put(worker)
                self._started = True
        return self

    def _spawn(self, index: int) -> _Worker:
        cfg = {**self.limits, "uid": UID_BASE + index, "gid": NOGROUP,
               "max_output_bytes": self.limits["file_size_mb"] * 1024 * 1024}
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}  # no user variables
        proc = subprocess.Popen([sys.executable, "-I", str(WORKER), json.dumps(cfg)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd="/",
                                close_fds=True)
        assert proc.stdin is not None and proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith(b'{"ready"'):
            proc.kill()
            raise DistillabError(f"the code sandbox worker did not start ({WORKER})",
                                 "run `python -I engine/sandbox/worker.py '{}'` to see why")
        return _Worker(proc, proc.stdin, proc.stdout, json.loads(line)["ready"])

    def close(self) -> None:
        """Stop the workers (a running program is killed with its worker)."""
        with self._lock:
            for worker in self._all:
                try:
                    worker.stdin.close()
                except OSError:
                    pass
                try:
                    worker.proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    worker.proc.kill()
                    worker.proc.wait()
                worker.stdout.close()
            self._all.clear()
            self._idle = queue.Queue()
            self._started = False

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def isolation(self) -> dict[str, Any]:
        """What holds here: root (uid drop), namespaces (PID+mount+tmpfs), netns."""
        self.start()
        return dict(self._all[0].caps)

    # -- running ----------------------------------------------------------------------
    def run(self, program: Program) -> Result:
        """Run one program in a fresh confined child; blocks until it ends."""
        self.start()
        worker = self._idle.get()
        with self._lock:
            self._next_id += 1
            req_id = self._next_id
        req = {"id": req_id, "code": program.code, "tests": list(program.tests),
               "cases": None if program.cases is None else [list(c) for c in program.cases],
               "tolerance": program.tolerance}
        try:
            worker.stdin.write(json.dumps(req).encode() + b"\n")
            worker.stdin.flush()
            line = worker.stdout.readline()
            if not line:
                raise BrokenPipeError("worker closed its output")
        except (BrokenPipeError, OSError) as exc:
            worker = self._replace(worker)
            self._idle.put(worker)
            return Result(False, "error", error=f"sandbox worker died: {exc}")
        self._idle.put(worker)
        out = json.loads(line)
        return Result(passed=out["status"] == "passed", status=out["status"],
                      failing_test=out.get("failing_test"), error=out.get("error", ""),
                      stdout=out.get("stdout", ""), stderr=out.get("stderr", ""),
                      time_s=float(out.get("time_s", 0.0)))

    def _replace(self, dead: _Worker) -> _Worker:
        dead.proc.kill()
        dead.proc.wait()
        with self._lock:
            index = self._all.index(dead)
            fresh = self._spawn(index)
            self._all[index] = fresh
        return fresh

    def run_many(self, programs: Sequence[Program],
                 on_progress: Callable[[int, int], None] | None = None) -> list[Result]:
        """Run programs in parallel on the pool, results in input order.

        ``on_progress(done, total)`` is called from pool threads after each program.
        """
        self.start()
        total = len(programs)
        done = 0
        progress_lock = threading.Lock()

        def one(program: Program) -> Result:
            nonlocal done
            result = self.run(program)
            if on_progress is not None:
                with progress_lock:
                    done += 1
                    on_progress(done, total)
            return result

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            return list(pool.map(one, programs))
