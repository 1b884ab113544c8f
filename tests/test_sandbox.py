"""The code sandbox contains hostile programs: each is reported as a failure with a reason,
and the machine is unharmed afterwards (files in place, no processes left, no secrets)."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from engine.paths import PROJECT_ROOT
from engine.sandbox import UID_BASE, Program, Sandbox
from engine.sandbox import worker as sandbox_worker
from engine.tasks import get_task


@pytest.fixture(scope="module")
def sb():
    # 256 MB: a memory bomb hits the limit in well under a second even on a loaded machine
    with Sandbox(workers=2, cpu_time_s=1, wall_time_s=3, memory_mb=256, file_size_mb=8,
                 max_processes=8) as sandbox:
        yield sandbox


def _sandbox_processes() -> list[int]:
    """Processes running under the sandbox uids (there must be none between programs)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uid_line = next(li for li in status.read_text().splitlines() if li.startswith("Uid:"))
        except (OSError, StopIteration):
            continue
        if UID_BASE <= int(uid_line.split()[1]) < UID_BASE + 64:
            found.append(int(status.parent.name))
    return found


def _no_leftovers() -> bool:
    for _ in range(20):
        if not _sandbox_processes():
            return True
        time.sleep(0.05)
    return False


def _needs(sb: Sandbox, *what: str) -> None:
    missing = [w for w in what if not sb.isolation.get(w)]
    if missing:
        pytest.skip(f"this machine's sandbox lacks {missing} (see engine/sandbox docstring)")


def test_passing_and_failing_programs(sb):
    ok = sb.run(Program("def f(x):\n    return x + 1", ("assert f(1) == 2", "assert f(2) == 3")))
    assert ok.passed and ok.status == "passed"
    bad = sb.run(Program("def f(x):\n    return x + 1", ("assert f(1) == 2", "assert f(2) == 4")))
    assert not bad.passed and bad.status == "failed" and bad.failing_test == 1
    assert "AssertionError" in bad.error and "<test 1>" in bad.error
    broken = sb.run(Program("def f(x) return x", ("assert f(1) == 1",)))
    assert broken.status == "error" and "SyntaxError" in broken.error
    exits = sb.run(Program("import sys\nsys.exit(0)", ("assert False",)))
    assert exits.status == "error" and "exit" in exits.error


def test_stdio_cases_with_tolerance(sb):
    code = "a, b = map(float, input().split())\nprint(a / b)\nprint('done')"
    ok = sb.run(Program(code, cases=(("1 3\n", "0.333333333 done"), ("4 2", "2.0\ndone\n"))))
    assert ok.passed, ok.error
    wrong = sb.run(Program(code, cases=(("1 3", "0.3333 done"),)))
    assert wrong.status == "failed" and wrong.failing_test == 0 and "expected" in wrong.error
    assert sandbox_worker.outputs_match("1  2\n3", "1 2 3")
    assert not sandbox_worker.outputs_match("YES", "yes")


@pytest.mark.slow
def test_infinite_loop_and_sleep_are_timed_out(sb):
    spin = sb.run(Program("while True:\n    pass"))
    assert spin.status == "timeout" and "CPU" in spin.error and spin.time_s < 3.5
    sleeper = sb.run(Program("import time\ntime.sleep(60)"))
    assert sleeper.status == "timeout" and "wall-clock" in sleeper.error
    catch_all = sb.run(Program("while True:\n    try:\n        while True: pass\n"
                               "    except BaseException:\n        pass"))
    assert catch_all.status == "timeout"  # swallowing SIGXCPU's exception meets SIGKILL
    assert _no_leftovers()


@pytest.mark.slow
def test_fork_bomb_is_contained(sb):
    _needs(sb, "root", "namespaces")
    bomb = ("import os\nwhile True:\n    try:\n        os.fork()\n"
            "    except OSError:\n        pass\n")
    result = sb.run(Program(bomb))
    assert not result.passed and result.status == "timeout"
    simple = sb.run(Program("import os\nwhile True:\n    os.fork()"))
    assert not simple.passed and "Resource temporarily unavailable" in simple.error
    escaping = sb.run(Program("import os, time\nif os.fork() == 0:\n    os.setsid()\n"
                              "    time.sleep(60)\n"))  # a child that leaves the group
    assert escaping.passed
    assert _no_leftovers(), f"left behind: {_sandbox_processes()}"


def test_memory_bomb(sb):
    result = sb.run(Program("a = []\nwhile True:\n    a.append(bytearray(10**7))"))
    assert not result.passed and result.status == "memory", result


def test_huge_file(sb):
    result = sb.run(Program("with open('big', 'wb') as f:\n    f.write(b'x' * (64 * 2**20))"))
    assert not result.passed and "file size limit" in result.error


def test_writing_outside_its_folder(sb, tmp_path):
    _needs(sb, "root", "namespaces")
    home = Path.home()
    home_probe = home / f".distillab-sandbox-probe-{os.getpid()}"
    project_probe = PROJECT_ROOT / "sandbox-escape-probe.txt"
    sentinel = tmp_path / "sentinel.txt"
    sentinel.write_text("keep me")
    home_sentinel = home / f".distillab-sandbox-sentinel-{os.getpid()}"
    home_sentinel.write_text("keep me too")
    try:
        for target in (home_probe, project_probe, tmp_path / "new.txt", PROJECT_ROOT / "README.md"):
            result = sb.run(Program(f"open({str(target)!r}, 'a').write('pwned')"))
            assert not result.passed and result.status == "error", target
            assert "Error" in result.error  # PermissionError / FileNotFoundError
        rm = sb.run(Program(
            "import os\n"
            f"os.system('rm -rf {sentinel} {home_sentinel} {tmp_path} ' + os.getcwd())\n"
            f"assert not os.path.exists({str(sentinel)!r})\n"
            f"assert os.path.exists({str(home_sentinel)!r}), 'home is hidden'\n"))
        assert not rm.passed and rm.status == "error" and "home is hidden" in rm.error
        assert sentinel.read_text() == "keep me"
        assert home_sentinel.read_text() == "keep me too"
        assert not home_probe.exists() and not project_probe.exists()
        assert (PROJECT_ROOT / "README.md").read_text().startswith("# Distillab")
    finally:
        home_sentinel.unlink(missing_ok=True)
        for probe in (home_probe, project_probe):
            if probe.exists():  # only if the sandbox failed: clean up, the assert above failed
                probe.unlink()


def test_own_temp_folder_is_cwd_and_home_and_is_fresh(sb):
    first = sb.run(Program("import os\nopen('mine.txt', 'w').write('x')\n"
                           "print(os.getcwd(), os.environ['HOME'])"))
    assert first.passed
    cwd, home = first.stdout.split()
    assert cwd == home
    second = sb.run(Program("import os\nassert not os.path.exists('mine.txt')"))
    assert second.passed, second.error


def test_api_keys_do_not_reach_the_program(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    monkeypatch.setenv("DISTILLAB_TEST_USER_VAR", "user-variable")
    parent = os.getpid()
    code = ("import os, glob\nprint(dict(os.environ))\n"
            f"for p in ['/proc/self/environ', '/proc/{parent}/environ'] + glob.glob('/proc/*/environ'):\n"
            "    try:\n        print(open(p, 'rb').read())\n"
            "    except OSError as e:\n        print('refused', p, e)\n"
            f"assert 'sk-test-secret' not in repr(dict(os.environ))\n")
    with Sandbox(workers=1, cpu_time_s=2, wall_time_s=4) as fresh:  # started with the key set
        result = fresh.run(Program(code))
    assert result.passed, result.error
    assert "sk-test-secret" not in result.stdout
    assert "user-variable" not in result.stdout
    assert "OPENAI_API_KEY" not in result.stdout


def test_network_is_unreachable(sb):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    try:
        result = sb.run(Program(
            f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
            "s.sendall(b'leak')"))
        assert not result.passed and result.status == "error"
        assert "unreachable" in result.error or "disabled" in result.error, result.error
        with pytest.raises(TimeoutError):
            listener.accept()
    finally:
        listener.close()


def test_socket_guard_fallback():
    """Where no network namespace can be made, a guard makes socket creation fail."""
    pid = os.fork()
    if pid == 0:
        try:
            sandbox_worker._install_socket_guard()
            try:
                socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            except PermissionError:
                os._exit(0)
            os._exit(1)
        finally:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_run_many_in_order_with_progress(sb):
    seen = []
    programs = [Program(f"x = {i}", (f"assert x == {i}", "assert x % 3 != 0")) for i in range(12)]
    results = sb.run_many(programs, on_progress=lambda done, total: seen.append((done, total)))
    assert [r.passed for r in results] == [i % 3 != 0 for i in range(12)]
    assert sorted(seen) == [(i, 12) for i in range(1, 13)]


def test_limits_are_checked():
    from engine.errors import DistillabError

    with pytest.raises(DistillabError, match="wall_time_s"):
        Sandbox(cpu_time_s=5, wall_time_s=1)


# -- issue 12: programs run as the official harnesses run them --------------------------


def test_programs_compile_without_inherited_future_flags(sb):
    """The worker's own `from __future__ import annotations` must not reach the program."""
    undefined = sb.run(Program("def f(x: Undefined) -> int:\n    return 1", ("assert f(1) == 1",)))
    assert undefined.status == "error" and "NameError" in undefined.error
    real = sb.run(Program("def f(x: int) -> int:\n    return x",
                          ("assert f.__annotations__ == {'x': int, 'return': int}",)))
    assert real.passed, real.error
    in_test = sb.run(Program("x = 1", ("def g(y: Missing):\n    pass",)))
    assert in_test.status == "error" and in_test.failing_test == 0 and "Missing" in in_test.error
    own = sb.run(Program("from __future__ import annotations\nimport typing\n"
                         "def f(x: Later) -> int:\n    return 2\nclass Later:\n    pass\n",
                         ("assert f.__annotations__['x'] == 'Later'",
                          "assert typing.get_type_hints(f)['x'] is Later")))
    assert own.passed, own.error  # a program's own future import still counts
    stdio = sb.run(Program("def f(x: Undefined):\n    pass\nprint(1)", cases=(("", "1"),)))
    assert stdio.status == "error" and "NameError" in stdio.error


def test_function_programs_do_not_run_as_main(sb):
    """Asserts / check() programs run under a module name of their own, as HumanEval and
    LeetCode do; stdin/stdout programs run as __main__."""
    check = get_task("code_check", sandbox=sb)
    item = {"test": "def check(candidate):\n    assert candidate(2) == 4", "entry_point": "double"}
    reads = "def double(x):\n    return 2 * x\nif __name__ == '__main__':\n    print(double(int(input())))\n"
    assert check.verify(reads, item).passed  # input() would hit end of file as __main__
    unit = ("import unittest\ndef double(x):\n    return 2 * x\nclass T(unittest.TestCase):\n"
            "    def test(self):\n        self.assertEqual(double(1), 3)\n"
            "if __name__ == '__main__':\n    unittest.main()\n")
    assert check.verify(unit, item).passed
    exits = "import sys\ndef double(x):\n    return x + x\nif __name__ == '__main__':\n    sys.exit(1)\n"
    assert check.verify(exits, item).passed
    assert not check.verify(reads.replace("2 * x", "3 * x"), item).passed  # wrong stays wrong
    named = sb.run(Program("import pickle\nclass P:\n    pass\nname = __name__",
                           ("assert name == '__program__'", "pickle.loads(pickle.dumps(P()))")))
    assert named.passed, named.error  # a real module: pickle finds the program's classes
    stdio = get_task("code_stdio", sandbox=sb)
    script = "def main():\n    print(int(input()) * 2)\nif __name__ == '__main__':\n    main()\n"
    assert stdio.verify(script, {"tests": [{"input": "3", "output": "6"}]}).passed
    assert not stdio.verify(script, {"tests": [{"input": "3", "output": "7"}]}).passed


_VENV_PROBE = """
import sys
sys.path.insert(0, {root!r})
from engine.sandbox import Program, Sandbox
code = '''
import os, sys, distillab_probe_site, distillab_probe_pth
assert distillab_probe_site.VALUE == 42 and distillab_probe_pth.VALUE == 7
here = os.path.dirname(distillab_probe_site.__file__)
assert os.statvfs(here).f_flag & os.ST_RDONLY, 'site-packages is writable'
print(sys.prefix)
'''
with Sandbox(workers=1, cpu_time_s=2, wall_time_s=4) as sb:
    assert sb.isolation["namespaces"], sb.isolation
    for program in (Program(code, ("assert distillab_probe_site.VALUE == 42",)),
                    Program(code + "print(input())", cases=(("x", sys.prefix + " x"),)),
                    Program("import os\\nassert os.path.exists({secret!r})", ())):
        r = sb.run(program)
        print(r.status, r.error.strip().splitlines()[-1:] if r.error else "")
"""


@pytest.mark.slow
def test_interpreter_folders_visible_read_only_wherever_they_live(sb):
    """A virtualenv under /tmp (a fresh clone there) or reached through a link there, and a
    folder a .pth file adds: programs import from them, cannot write them, and still see
    nothing else of /tmp."""
    import shutil
    import subprocess
    import sys
    import tempfile

    _needs(sb, "root", "namespaces")
    base = Path(tempfile.mkdtemp(prefix="distillab-venv-", dir="/tmp"))
    try:
        subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv",
                        "--without-pip", "--system-site-packages", str(base / "venv")], check=True)
        site = next((base / "venv" / "lib").glob("python3*/site-packages"))
        (site / "distillab_probe_site.py").write_text("VALUE = 42\n")
        (base / "extra").mkdir()
        (base / "extra" / "distillab_probe_pth.py").write_text("VALUE = 7\n")
        (site / "distillab-probe.pth").write_text(str(base / "extra") + "\n")
        (base / "secret.txt").write_text("not for programs")
        (base / "link").symlink_to(base / "venv")
        script = _VENV_PROBE.format(root=str(PROJECT_ROOT), secret=str(base / "secret.txt"))
        for python in (base / "venv" / "bin" / "python", base / "link" / "bin" / "python"):
            out = subprocess.run([str(python), "-c", script], capture_output=True, text=True,
                                 timeout=120, env={"PATH": os.environ["PATH"]})
            assert out.returncode == 0, out.stderr[-2000:]
            lines = out.stdout.splitlines()
            assert lines[0] == "passed ", (python, out.stdout)
            assert lines[1] == "passed ", (python, out.stdout)
            assert lines[2].startswith("error") and "AssertionError" in lines[2], lines[2]
    finally:
        shutil.rmtree(base, ignore_errors=True)
