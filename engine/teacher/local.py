"""The embedded local teacher: llama-cpp-python serving a GGUF on 127.0.0.1, as a child process.

``GuardedServer.start`` picks a free port, starts a server process through
``engine.teacher.guard`` (which makes it die with this process, even on ``kill -9``),
waits until ``/v1/models`` answers, and gives back the base URL. The rest of the engine
then talks to it like any OpenAI-compatible endpoint. The server gets a random API key
for this session, so other local users cannot use it. ``stop`` ends it; an ``atexit``
hook stops servers a caller forgot. ``EmbeddedServer`` serves a GGUF with llama.cpp;
the lab's scripted teacher (``engine.lab.launch.LabServer``) is started the same way.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from engine.teacher.errors import TeacherError
from engine.teacher.guard import KEY_ENV

ALIAS = "embedded"
# Loading the 98 MB SmolLM2 GGUF takes ~2 s on 2 cores; a 7B GGUF from a slow disk can
# take a minute or more.
START_TIMEOUT_S = 180.0
_running: set[GuardedServer] = set()
_digests: dict[tuple[str, int, float], str] = {}


def gguf_for(model: str) -> Path:
    """The GGUF a teacher.model names: 'embedded' (SmolLM2) or a path to a .gguf file."""
    if model in ("embedded", ""):
        from engine.embedded import gguf_path

        return gguf_path()
    path = Path(model).expanduser()
    if not path.is_file() or path.suffix.lower() != ".gguf":
        raise TeacherError("not_found", "embedded", f"{model} is not a GGUF file",
                           "set teacher.model to 'embedded' or to the path of a .gguf file")
    return path.resolve()


def model_identity(gguf: Path) -> str:
    """A stable name for the model file (cache keys must not depend on the port)."""
    stat = gguf.stat()
    memo = (str(gguf), stat.st_size, stat.st_mtime)
    if memo not in _digests:
        digest = hashlib.sha256()
        with gguf.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        _digests[memo] = digest.hexdigest()[:16]
    return f"embedded:{gguf.name}@{_digests[memo]}"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class GuardedServer:
    """A server process on 127.0.0.1 that dies with us; subclasses say what it runs."""

    serve = "llama"  # the guard's name for what to run (engine.teacher.guard.SERVES)
    program = "llama.cpp"  # for messages: "the llama.cpp server exited"
    name = "server"  # the endpoint, for messages

    def __init__(self) -> None:
        self.port = 0
        self.api_key = secrets.token_urlsafe(24)
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_fd: int | None = None  # the server's output, read with pread
        self._log_path: Path | None = None  # only where an open file cannot be unlinked

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def server_args(self) -> list[str]:
        """The arguments of the server itself (the port is ``self.port``)."""
        raise NotImplementedError

    def failure_hint(self) -> str:
        return "the log above says why"

    def start(self, timeout_s: float = START_TIMEOUT_S) -> GuardedServer:
        self.port = free_port()
        args = [sys.executable, "-m", "engine.teacher.guard", "--parent", str(os.getpid()),
                "--serve", self.serve, "--", *self.server_args()]
        env = {**os.environ, KEY_ENV: self.api_key}
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        fd, name = tempfile.mkstemp(prefix=f"distillab-{self.serve}-", suffix=".log")
        self._log_fd = fd
        try:  # POSIX: the file lives on while the server or we hold it, so even a kill -9
            os.unlink(name)  # of both leaves nothing behind in the temp dir
        except OSError:  # Windows: removed in stop()
            self._log_path = Path(name)
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=fd,
                                     stderr=subprocess.STDOUT, env=env)
        _running.add(self)
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        request = urllib.request.Request(f"{self.base_url}/models",
                                         headers={"Authorization": f"Bearer {self.api_key}"})
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise TeacherError("unreachable", self.name,
                                   f"the {self.program} server exited with code "
                                   f"{self.proc.returncode}:\n{self.log_tail()}",
                                   self.failure_hint())
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200 and json.load(response).get("data"):
                        return
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(0.05)
        raise TeacherError("unreachable", self.name,
                           f"the {self.program} server did not answer within {timeout_s:.0f} s:\n"
                           f"{self.log_tail()}", "a large GGUF may need longer; check memory")

    def log_tail(self, lines: int = 15) -> str:
        """The last lines the server wrote (pread: the server's write offset is shared)."""
        if self._log_fd is None:
            return ""
        try:
            if self._log_path is not None:  # Windows (no pread): the file is still there
                text = self._log_path.read_text(errors="replace")
            else:
                size = os.fstat(self._log_fd).st_size
                start = max(0, size - 64 * 1024)
                text = os.pread(self._log_fd, size - start, start).decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        _running.discard(self)
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        fd, self._log_fd = self._log_fd, None
        if fd is not None:
            os.close(fd)
        if self._log_path is not None:
            self._log_path.unlink(missing_ok=True)


class EmbeddedServer(GuardedServer):
    """One llama.cpp server process serving ``gguf`` as model ``embedded``."""

    serve = "llama"

    def __init__(self, gguf: Path, *, n_ctx: int = 4096, n_threads: int | None = None) -> None:
        super().__init__()
        self.gguf = gguf
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.name = f"embedded ({gguf.name})"

    def server_args(self) -> list[str]:
        args = ["--model", str(self.gguf), "--model_alias", ALIAS, "--host", "127.0.0.1",
                "--port", str(self.port), "--n_ctx", str(self.n_ctx), "--verbose", "False"]
        # llama-cpp-python's server defaults to half the cores (1 on a 2-core laptop), which
        # halves generation speed here (20 vs 37 tokens/s for SmolLM2-135M): use them all.
        threads = self.n_threads or os.cpu_count() or 1
        return [*args, "--n_threads", str(threads), "--n_threads_batch", str(threads)]

    def failure_hint(self) -> str:
        return "check that the GGUF file is valid and that there is enough memory; the log " \
               "above says why"


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        server.stop()
