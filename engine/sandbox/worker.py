"""The sandbox worker: a pre-started Python that forks a fresh, confined child per program.

Run as ``python -I worker.py '<config json>'`` by :mod:`engine.sandbox`; standard library
only, so it starts fast and imports nothing of the project. It reads one JSON request per
line on stdin and writes one JSON result per line on stdout.

Once, at start, the worker enters a mount namespace of its own (all mounts private),
covers ``/var/tmp``, ``/dev/shm`` and ``/run/lock`` with empty read-only tmpfs mounts and
the home folder with an empty tmpfs; the interpreter's folders that lived under a covered
folder are mounted back, read-only, at their paths. Then, per program (or per stdin case),
it forks twice:

* ``A`` (still root) enters a new PID and mount namespace, puts a fresh size-limited
  tmpfs over ``/tmp`` (with the interpreter folders under ``/tmp`` mounted in it) and
  creates the program's work folder ``/tmp/work``;
* ``B`` is PID 1 of that namespace: it mounts its own ``/proc``, sets the rlimits, drops to
  an unprivileged uid, clears the environment and runs the code and its tests in-process
  (no ``exec`` of a new interpreter: that is where the speed comes from). When ``B`` ends
  or is killed, the kernel kills every process left in its namespace and the tmpfs
  vanishes with it.

The worker itself runs in a network namespace of its own with no interfaces up, so no
child can reach any network, loopback included. Where namespaces cannot be made (not
root), it falls back to a new session killed as a group, a temp folder, and a
Python-level socket guard; :func:`probe` reports which mode holds.

Knows nothing of tasks, data sets or the store.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import select
import shutil
import signal
import sys
import tempfile
import time
import traceback
import types
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 4096, 8192, 16384, 1 << 18
PR_SET_PDEATHSIG = 1
# Folders any user may write to on a stock Linux: each gets a private tmpfs per program.
WRITABLE_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")
WORKDIR_NS = "/tmp/work"
NEXT_TMP = "/tmp/.next"  # in the worker's own /tmp: each program's /tmp is prepared here
PROGRAM_MODULE = "__program__"  # the module name a function-style program runs under
KEEP_OUTPUT = 4096  # characters of stdout/stderr kept in a result (the rest is dropped)
GRACE_S = 5.0  # after a wall-clock kill, how long to wait for the namespace to wind down

_libc = ctypes.CDLL(None, use_errno=True)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def _mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    _check(_libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None,
                       flags, data.encode() if data else None), f"mount {target}")


def outputs_match(actual: str, expected: str, tolerance: float = 1e-6) -> bool:
    """Compare program output token by token: any whitespace, floats within ``tolerance``.

    Tolerance is absolute or relative to the expected value, whichever is looser, as
    competitive-programming checkers do (1e-6 is the common "absolute or relative error").
    """
    got, want = actual.split(), expected.split()
    if len(got) != len(want):
        return False
    for g, w in zip(got, want, strict=True):
        if g == w:
            continue
        try:
            gf, wf = float(g), float(w)
        except ValueError:
            return False
        if not abs(gf - wf) <= tolerance * max(1.0, abs(wf)):
            return False
    return True


def probe() -> dict[str, Any]:
    """Which isolation this process can set up (call in the worker, after its own set-up)."""
    root = os.geteuid() == 0
    pid = os.fork()
    if pid == 0:  # try the per-program namespaces in a throwaway child
        try:
            _unshare(CLONE_NEWPID | CLONE_NEWNS)
            _mount("none", "/", None, MS_REC | MS_PRIVATE, None)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return {"root": root, "namespaces": os.waitstatus_to_exitcode(status) == 0}


class _CpuLimit(BaseException):  # not Exception: `except Exception` in user code misses it
    """Raised in the child when RLIMIT_CPU's soft limit sends SIGXCPU."""


def _on_sigxcpu(signum: int, frame: object) -> None:
    raise _CpuLimit()


def _install_socket_guard() -> None:
    """Fallback without a network namespace: creating any socket from Python fails."""
    import _socket
    import socket

    def refuse(*args: object, **kwargs: object) -> Any:
        raise PermissionError(1, "network access is disabled in the sandbox")

    class NoSocket(_socket.socket):
        def __init__(self, *args: object, **kwargs: object) -> None:
            refuse()

    _socket.socket = socket.socket = socket.SocketType = NoSocket  # type: ignore[misc, assignment]
    for name in ("socketpair", "fromfd", "create_connection", "create_server", "getaddrinfo"):
        setattr(socket, name, refuse)


def _format_error(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next  # the harness's own frames say nothing about the program
    lines = traceback.format_exception(type(exc), exc, tb)
    text = "".join(lines[-12:])
    return text[-2000:]


def _program_module(name: str) -> types.ModuleType:
    """A fresh module for the program, registered under ``name`` so that pickle, dataclasses
    and ``typing.get_type_hints`` find it."""
    import builtins

    module = types.ModuleType(name)
    module.__dict__["__builtins__"] = builtins
    sys.modules[name] = module
    return module


def _harness(req: dict[str, Any], result_fd: int) -> None:
    """Run code then tests in this process; write one JSON verdict to ``result_fd`` and exit.

    A program with tests (a function and its asserts or ``check``) runs as module
    ``PROGRAM_MODULE``, as the HumanEval and LeetCode harnesses run it, so its own
    ``if __name__ == "__main__":`` block (reading ``input()``, calling ``unittest.main()``)
    does not run; a stdin/stdout program runs as ``__main__``, as a script."""
    main_pid = os.getpid()

    def report(outcome: dict[str, Any]) -> None:
        if os.getpid() != main_pid:  # a forked copy of the program must not report
            os._exit(0)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        os.write(result_fd, json.dumps(outcome).encode())
        os._exit(0)

    stdio = req.get("cases") is not None
    scope = _program_module("__main__" if stdio else PROGRAM_MODULE).__dict__
    sys.argv = ["<program>"]  # not the worker's own argv (its configuration)
    where: int | None = None  # None: the program itself; i: test i
    try:
        try:  # dont_inherit: not this file's `from __future__ import annotations`
            exec(compile(req["code"], "<program>", "exec", dont_inherit=True), scope)
        except SystemExit as exc:
            if not stdio or exc.code not in (None, 0):
                raise
        for where, test in enumerate(req["tests"]):
            exec(compile(test, f"<test {where}>", "exec", dont_inherit=True), scope)
    except _CpuLimit:
        report({"status": "timeout", "error": "CPU time limit exceeded", "failing_test": where})
    except MemoryError:
        report({"status": "memory", "error": "memory limit exceeded", "failing_test": where})
    except AssertionError as exc:
        status = "failed" if where is not None else "error"
        report({"status": status, "error": _format_error(exc), "failing_test": where})
    except SystemExit as exc:
        report({"status": "error", "failing_test": where,
                "error": f"the program called exit({exc.code!r}) before its tests finished"})
    except BaseException as exc:
        if isinstance(exc, OSError) and exc.errno == 27:  # EFBIG from RLIMIT_FSIZE
            report({"status": "error", "failing_test": where,
                    "error": "file size limit exceeded: " + _format_error(exc)})
        report({"status": "error", "error": _format_error(exc), "failing_test": where})
    report({"status": "passed"})


def _child_b(req: dict[str, Any], cfg: dict[str, Any], caps: dict[str, Any], workdir: str,
             fds: dict[str, int]) -> None:
    """PID 1 of the program's namespace: confine this process, then run the harness."""
    try:
        os.setsid()  # own session and process group, so the group can be killed at once
        os.dup2(fds["stdin"], 0)
        os.dup2(fds["out_w"], 1)
        os.dup2(fds["err_w"], 2)
        os.dup2(fds["res_w"], 3)
        os.closerange(4, 1 << 16)
        if caps["namespaces"]:  # a /proc that shows only this namespace's processes
            _mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
        mb = 1024 * 1024
        cpu = int(cfg["cpu_time_s"] + 0.999)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))  # soft: SIGXCPU, hard: SIGKILL
        resource.setrlimit(resource.RLIMIT_AS, (cfg["memory_mb"] * mb,) * 2)
        resource.setrlimit(resource.RLIMIT_FSIZE, (cfg["file_size_mb"] * mb,) * 2)
        resource.setrlimit(resource.RLIMIT_NPROC, (cfg["max_processes"],) * 2)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.chdir(workdir)
        if caps["root"]:
            os.setgroups([])
            os.setgid(cfg["gid"])
            os.setuid(cfg["uid"])
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after setuid, which clears it
        os.environ.clear()
        os.environ.update({
            "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": workdir, "TMPDIR": workdir,
            "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8", "PYTHONDONTWRITEBYTECODE": "1",
            # one thread each: threads count against RLIMIT_NPROC and RLIMIT_AS
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        })
        sys.dont_write_bytecode = True
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGXCPU, _on_sigxcpu)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit raises EFBIG
        sys.stdin = open(0, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        sys.stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
        if not caps["netns"]:
            _install_socket_guard()
    except BaseException as exc:
        os.write(3, json.dumps({"status": "error",
                                "error": f"sandbox set-up failed: {exc!r}"}).encode())
        os._exit(1)
    _harness(req, 3)


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def interpreter_paths() -> list[str]:
    """Folders the interpreter needs, as its ``sys.path`` names them and as they really
    are: prefixes (a virtualenv's and its base's) and every folder on ``sys.path``
    (site-packages, folders added by ``.pth`` files), nested ones dropped."""
    found: set[str] = set()
    for p in (sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix, *sys.path):
        if p and os.path.isdir(p):
            found |= {os.path.abspath(p), os.path.realpath(p)}
    ordered = sorted(found)
    return [p for p in ordered if not any(q != p and _under(p, q) for q in ordered)]


def _bind_read_only(source: str, target: str) -> None:
    """Mount ``source`` at ``target`` read-only (the source's nosuid/nodev/noexec kept)."""
    _mount(source, target, None, MS_BIND | MS_REC, None)
    st = os.statvfs(target)
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY
    for st_flag, ms_flag in ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV),
                             (os.ST_NOEXEC, MS_NOEXEC)):
        if st.f_flag & st_flag:
            flags |= ms_flag
    _mount("none", target, None, flags, None)


def _private_mounts(home: str, expose: list[str]) -> list[str]:
    """Once per worker: a mount namespace of its own whose changes nobody else sees, with
    ``/tmp`` private (each program then gets a fresh tmpfs over it), the other folders
    anyone may write (``/var/tmp``, ``/dev/shm``, ``/run/lock``) covered read-only, and
    the home folder hidden. The interpreter's folders (``expose``) stay visible,
    read-only, at their paths, wherever they live (a virtualenv under ``/tmp`` or the home
    folder). Returns those that live under ``/tmp`` (each program's tmpfs shows them too)."""
    _unshare(CLONE_NEWNS)
    _mount("none", "/", None, MS_REC | MS_PRIVATE, None)
    covered = sorted({d for d in (*WRITABLE_DIRS, home) if d not in ("", "/") and os.path.isdir(d)},
                     key=len)
    # opened before anything is covered: a covered path stays reachable through its fd
    # (never a covered folder itself: a .pth naming /tmp or the home must not undo the cover)
    keep = {p: os.open(p, os.O_PATH | os.O_DIRECTORY) for p in expose
            if any(_under(p, d) for d in covered) and p not in covered}
    done: set[str] = set()
    for d in covered:
        if not os.path.isdir(d):  # inside a folder covered already (HOME=/tmp/home)
            continue
        _mount("tmpfs", d, "tmpfs", MS_NOSUID | MS_NODEV,
               "size=1m,mode=1777" if d == "/tmp" else "size=1m,mode=755")
        for path, fd in keep.items():
            if _under(path, d) and path not in done:
                os.makedirs(path, exist_ok=True)
                _bind_read_only(f"/proc/self/fd/{fd}", path)
                done.add(path)
        if d in WRITABLE_DIRS[1:]:
            _mount("none", d, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, None)
    for fd in keep.values():
        os.close(fd)
    os.mkdir(NEXT_TMP)  # where each program's fresh /tmp is built before it is moved over /tmp
    return [p for p in keep if _under(p, "/tmp")]


def _fresh_tmp(size_mb: int, expose: list[str]) -> None:
    """In a program's own mount namespace: a fresh tmpfs over ``/tmp`` that still shows
    the interpreter folders living under ``/tmp`` (built aside, then moved into place)."""
    _mount("tmpfs", NEXT_TMP, "tmpfs", MS_NOSUID | MS_NODEV, f"size={size_mb}m,mode=1777")
    for path in expose:
        target = NEXT_TMP + path[len("/tmp"):]
        os.makedirs(target, exist_ok=True)
        _bind_read_only(path, target)
    _mount(NEXT_TMP, "/tmp", None, MS_MOVE, None)


def _child_a(req: dict[str, Any], cfg: dict[str, Any], caps: dict[str, Any], workdir: str,
             fds: dict[str, int]) -> None:
    """Make the namespaces and private tmpfs mounts, start B, and report how it ended."""
    status_w = fds["status_w"]
    try:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the worker dies: so do A, then B
        for name in ("out_r", "err_r", "res_r", "status_r"):
            os.close(fds[name])
        if caps["namespaces"]:
            _unshare(CLONE_NEWPID | CLONE_NEWNS)  # copies the worker's private mount tree
            # 4 x the file limit: a few files of the largest allowed size fit, no more
            _fresh_tmp(4 * cfg["file_size_mb"], cfg["tmp_expose"])
            os.mkdir(workdir, 0o700)
            if caps["root"]:
                os.chown(workdir, cfg["uid"], cfg["gid"])
        b = os.fork()
        if b == 0:
            os.close(status_w)
            _child_b(req, cfg, caps, workdir, fds)
        for name in ("out_w", "err_w", "res_w", "stdin"):
            os.close(fds[name])
        os.write(status_w, f"{b}\n".encode())
        _, status, usage = os.wait4(b, 0)
        if not caps["namespaces"]:  # no namespace to tear down: kill what is left of the group
            try:
                os.killpg(b, signal.SIGKILL)
            except OSError:
                pass
        os.write(status_w, json.dumps({"wait": status, "cpu": usage.ru_utime + usage.ru_stime})
                 .encode() + b"\n")
        os._exit(0)
    except BaseException as exc:
        try:
            os.write(status_w, json.dumps({"setup_error": repr(exc)}).encode() + b"\n")
        finally:
            os._exit(1)


def _read_available(fd: int, buf: bytearray, cap: int) -> bool:
    """Read what ``fd`` has into ``buf`` (past ``cap`` bytes it is dropped); False at EOF."""
    try:
        data = os.read(fd, 1 << 16)
    except BlockingIOError:
        return True
    if not data:
        return False
    room = cap - len(buf)
    if room > 0:
        buf += data[:room]
    return True


def _classify(final: dict[str, Any] | None, verdict: dict[str, Any] | None, stderr: str,
              cfg: dict[str, Any], wall_killed: bool) -> dict[str, Any]:
    if wall_killed:
        return {"status": "timeout", "error": f"wall-clock limit of {cfg['wall_time_s']} s exceeded"}
    if verdict is not None:
        return verdict
    if final is None:
        return {"status": "error", "error": "the sandbox lost track of the program"}
    if "setup_error" in final:
        return {"status": "error", "error": f"sandbox set-up failed: {final['setup_error']}"}
    wait, cpu = final["wait"], final["cpu"]
    if os.WIFSIGNALED(wait):
        sig = os.WTERMSIG(wait)
        if sig in (signal.SIGXCPU, signal.SIGKILL) and cpu >= cfg["cpu_time_s"] - 0.05:
            return {"status": "timeout", "error": f"CPU time limit of {cfg['cpu_time_s']} s exceeded"}
        if "MemoryError" in stderr or "Cannot allocate memory" in stderr:
            return {"status": "memory", "error": f"memory limit of {cfg['memory_mb']} MB exceeded"}
        return {"status": "killed", "error": f"killed by {signal.Signals(sig).name}"}
    code = os.waitstatus_to_exitcode(wait)
    return {"status": "error", "error": f"the program exited with code {code} before its tests finished"}


def run_once(req: dict[str, Any], cfg: dict[str, Any], caps: dict[str, Any],
             stdin_text: str) -> dict[str, Any]:
    """Run the program once in a fresh confined child; the verdict plus captured output."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    res_r, res_w = os.pipe()
    status_r, status_w = os.pipe()
    stdin = os.memfd_create("stdin")
    data = stdin_text.encode()
    while data:
        data = data[os.write(stdin, data):]
    os.lseek(stdin, 0, os.SEEK_SET)
    if caps["namespaces"]:
        workdir = WORKDIR_NS
    else:
        workdir = tempfile.mkdtemp(prefix="run-", dir=cfg["tmp_base"])
        if caps["root"]:
            os.chown(workdir, cfg["uid"], cfg["gid"])
    fds = {"out_r": out_r, "out_w": out_w, "err_r": err_r, "err_w": err_w, "res_r": res_r,
           "res_w": res_w, "status_r": status_r, "status_w": status_w, "stdin": stdin}
    start = time.monotonic()
    a = os.fork()
    if a == 0:
        _child_a(req, cfg, caps, workdir, fds)
    for fd in (out_w, err_w, res_w, status_w, stdin):
        os.close(fd)
    caps_bytes = {out_r: cfg["max_output_bytes"], err_r: 4 * KEEP_OUTPUT, res_r: 1 << 20,
                  status_r: 1 << 16}
    bufs = {fd: bytearray() for fd in caps_bytes}
    open_fds = set(bufs)
    deadline = start + cfg["wall_time_s"]
    b_pid: int | None = None
    final: dict[str, Any] | None = None
    wall_killed = False
    while final is None and status_r in open_fds:
        timeout = deadline - time.monotonic()
        if timeout <= 0:
            if wall_killed:  # the namespace did not wind down in time: give up on A too
                os.kill(a, signal.SIGKILL)
                break
            wall_killed = True
            deadline = time.monotonic() + GRACE_S
            # SIGKILL to PID 1 of the namespace kills every process in it
            os.kill(b_pid if b_pid is not None else a, signal.SIGKILL)
            if b_pid is not None and not caps["namespaces"]:
                try:
                    os.killpg(b_pid, signal.SIGKILL)
                except OSError:
                    pass
            continue
        ready, _, _ = select.select(list(open_fds), [], [], timeout)
        for fd in ready:
            if not _read_available(fd, bufs[fd], caps_bytes[fd]):
                open_fds.discard(fd)
        lines = bytes(bufs[status_r]).split(b"\n")
        if b_pid is None and len(lines) > 1:
            b_pid = int(lines[0])
        if len(lines) > 2:
            final = json.loads(lines[1])
    for fd in open_fds:  # B has ended: take what is left in the pipes without blocking
        os.set_blocking(fd, False)
        while _read_available(fd, bufs[fd], caps_bytes[fd]) and not _would_block(fd):
            pass
    os.waitpid(a, 0)
    elapsed = time.monotonic() - start
    for fd in bufs:
        os.close(fd)
    if not caps["namespaces"]:
        shutil.rmtree(workdir, ignore_errors=True)
    stdout = bufs[out_r].decode("utf-8", "replace")
    stderr = bufs[err_r].decode("utf-8", "replace")
    verdict = json.loads(bufs[res_r]) if bufs[res_r] else None
    outcome = _classify(final, verdict, stderr, cfg, wall_killed)
    outcome.update(stdout=stdout, stderr=stderr[:KEEP_OUTPUT], time_s=elapsed,
                   output_truncated=len(bufs[out_r]) >= cfg["max_output_bytes"])
    return outcome


def _would_block(fd: int) -> bool:
    ready, _, _ = select.select([fd], [], [], 0)
    return not ready


def run_program(req: dict[str, Any], cfg: dict[str, Any], caps: dict[str, Any]) -> dict[str, Any]:
    """A program with tests runs once; a stdin/stdout program runs once per case."""
    cases = req.get("cases")
    if cases is None:
        outcome = run_once(req, cfg, caps, "")
        outcome["stdout"] = outcome["stdout"][:KEEP_OUTPUT]
        return outcome
    total = 0.0
    outcome = {"status": "passed", "stdout": "", "stderr": ""}
    for i, (stdin_text, expected) in enumerate(cases):
        outcome = run_once(req, cfg, caps, stdin_text)
        total += outcome["time_s"]
        if outcome["status"] == "passed" and outcome["output_truncated"]:
            outcome.update(status="failed", error="output larger than the sandbox keeps")
        elif outcome["status"] == "passed" and not outputs_match(
                outcome["stdout"], expected, req.get("tolerance", 1e-6)):
            outcome.update(status="failed", error=(
                f"wrong output on case {i}: expected {expected[:200]!r}, "
                f"got {outcome['stdout'][:200]!r}"))
        outcome["stdout"] = outcome["stdout"][:KEEP_OUTPUT]
        if outcome["status"] != "passed":
            outcome["failing_test"] = i
            break
    outcome["time_s"] = total
    return outcome


# Modules generated code often uses: imported once in the worker, shared by every child.
PREIMPORT = ("array", "bisect", "cmath", "collections", "copy", "datetime", "decimal",
             "fractions", "functools", "heapq", "itertools", "math", "operator", "random",
             "re", "statistics", "string", "typing", "sortedcontainers")


def _preimport() -> None:
    import importlib

    for name in PREIMPORT:
        try:
            importlib.import_module(name)
        except ImportError:  # sortedcontainers is optional
            pass


def main() -> None:
    import gc
    import pwd

    cfg = json.loads(sys.argv[1])
    cfg["home"] = pwd.getpwuid(os.geteuid()).pw_dir
    cfg["expose"] = interpreter_paths()
    cfg["tmp_expose"] = []
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # die with the parent; never orphaned
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the parent, which closes us
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.dup(1)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    try:
        _unshare(CLONE_NEWNET)  # no interfaces, not even loopback up
        netns = True
    except OSError:
        netns = False
    caps = probe()
    caps["netns"] = netns
    if caps["namespaces"]:
        cfg["tmp_expose"] = _private_mounts(cfg["home"], cfg["expose"])
    if not caps["namespaces"]:
        cfg["tmp_base"] = tempfile.mkdtemp(prefix="distillab-sandbox-")
        os.chmod(cfg["tmp_base"], 0o711)
    _preimport()
    gc.freeze()  # keep the shared heap out of the collector: fewer copy-on-write pages per child
    os.write(proto_out, json.dumps({"ready": caps}).encode() + b"\n")
    for line in proto_in:
        req = json.loads(line)
        try:
            outcome = run_program(req, cfg, caps)
        except Exception as exc:  # a bug here must not take the pool down
            outcome = {"status": "error", "error": f"sandbox worker: {exc!r}"}
        outcome["id"] = req["id"]
        data = json.dumps(outcome).encode() + b"\n"
        while data:
            data = data[os.write(proto_out, data):]
    if not caps["namespaces"]:
        shutil.rmtree(cfg["tmp_base"], ignore_errors=True)


if __name__ == "__main__":
    main()
