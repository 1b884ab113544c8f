"""The wheel works outside the checkout: build it once, install it into a fresh venv, and run
`distillab recipes`, `recipes copy`, `validate` on every shipped recipe and study, a run of
the smoke recipe, `doctor`, `gui` (offscreen, start and quit) and, slow, the demo, all from
a folder that is not the checkout and with no PYTHONPATH.

Cheap on purpose: the wheel is built from a copy of the sources with the project's own
setuptools (`pip wheel --no-deps --no-build-isolation`, ~2 s), and the venv is created
without pip; the wheel goes in with `pip --python VENV install --no-deps --no-index`, and only
then a `.pth` file puts the project venv's site-packages (torch, PySide6, ...) behind the
venv's own, so nothing is downloaded or copied and the project venv is never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from engine.paths import PROJECT_ROOT, RECIPES_DIR

pytestmark = pytest.mark.slow  # ~45 s on 2 cores: a build, a venv and a dozen subprocesses

IGNORE = shutil.ignore_patterns(".venv", ".git", "build", "dist", "*.egg-info", "__pycache__",
                                ".pytest_cache", ".mypy_cache", ".ruff_cache", "tests", "bench",
                                "docs", "*.db", "*.db-*", "out", ".whl")


class Installed:
    def __init__(self, root: Path, wheel: Path, venv: Path, home: Path) -> None:
        self.root, self.wheel, self.venv, self.home = root, wheel, venv, home
        self.elsewhere = root / "elsewhere"
        self.elsewhere.mkdir(exist_ok=True)

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env.update(DISTILLAB_HOME=str(self.home), QT_QPA_PLATFORM="offscreen",
                   OMP_NUM_THREADS="1", COLUMNS="250", PATH=f"{self.venv / 'bin'}{os.pathsep}{env['PATH']}")
        env.pop("DISTILLAB_DB", None)
        return env

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.venv / "bin" / "distillab"), *args], cwd=self.elsewhere,
                              env=self.env(), capture_output=True, text=True, timeout=timeout)

    def python(self, code: str) -> str:
        out = subprocess.run([str(self.venv / "bin" / "python"), "-c", code], cwd=self.elsewhere,
                             env=self.env(), capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, models_home: Path) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    shutil.copytree(PROJECT_ROOT, src, ignore=IGNORE, symlinks=False)
    dist = root / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(dist), str(src)], check=True, timeout=300,
                   capture_output=True)
    (wheel,) = dist.glob("distillab-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(venv)], check=True, timeout=120)
    # no PYTHONPATH: a checkout on it (with its distillab.egg-info) would look installed
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                    "install", "--no-deps", "--no-index", "-q", str(wheel)], check=True,
                   timeout=300, capture_output=True, env=clean)
    assert (venv / "bin" / "distillab").is_file(), "the wheel did not install into the venv"
    # only now (pip must not see the project venv's own editable distillab) the project's
    # packages go behind the venv's own site-packages
    (own,) = (venv / "lib").glob("python3*/site-packages")
    (own / "zz-project-packages.pth").write_text(
        "".join(f"{p}\n" for p in site.getsitepackages()), encoding="utf-8")
    home = root / "home"
    home.mkdir()
    return Installed(root, wheel, venv, home)


def test_the_wheel_carries_every_recipe_prompt_and_asset_found_by_glob(installed):
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for folder in ("recipes", "assets"):
        for path in (PROJECT_ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                rel = path.relative_to(PROJECT_ROOT).as_posix()
                assert f"engine/_shipped/{rel}" in names, rel
    assert not any(n.startswith(("tests/", "bench/", "recipes/")) for n in names)


def test_installed_engine_is_the_wheel_and_finds_its_package_data(installed):
    out = json.loads(installed.python(
        "import json, engine, engine.paths as p, gui.theme as t;"
        "print(json.dumps([engine.__file__, p.is_checkout(), str(p.RECIPES_DIR),"
        " str(t.ICON_PATH), t.ICON_PATH.is_file()]))"))
    engine_file, checkout, recipes, icon, icon_exists = out
    assert Path(engine_file).is_relative_to(installed.venv) and checkout is False
    assert Path(recipes).is_relative_to(installed.venv) and Path(recipes).name == "recipes"
    assert Path(icon).is_relative_to(installed.venv) and icon_exists


def test_recipes_lists_the_shipped_recipes_from_the_installation(installed):
    out = installed.run("recipes")
    assert out.returncode == 0, out.stderr
    for path in RECIPES_DIR.glob("*.yaml"):
        assert path.stem in out.stdout
    assert str(installed.venv) in out.stdout.replace("\n", "")


def test_validate_passes_on_every_shipped_recipe_and_study_of_the_installation(installed):
    shipped = Path(installed.python("import engine.paths as p; print(p.RECIPES_DIR)"))
    recipes = sorted(str(p) for p in shipped.glob("*.yaml"))
    assert len(recipes) == len(list(RECIPES_DIR.glob("*.yaml"))) >= 10
    out = installed.run("validate", *recipes)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("ok") >= len(recipes)
    studies = sorted(str(p) for p in (shipped / "studies").glob("*.yaml"))
    out = installed.run("study", "validate", *studies)
    assert out.returncode == 0, out.stdout + out.stderr


def test_recipes_copy_gives_a_runnable_copy_that_reads_its_own_prompts_and_data(installed):
    dest = installed.elsewhere / "mine"
    out = installed.run("recipes", "copy", "cot-math", str(dest))
    assert out.returncode == 0, out.stderr
    copy = dest / "cot-math.yaml"
    assert (dest / "prompts" / "cot" / "solve.j2").is_file()
    assert (dest / "data" / "math.jsonl").is_file()
    assert "path: data/math.jsonl" in copy.read_text()
    (dest / "prompts" / "cot" / "student.j2").write_text("EDITED {{ question }}")
    rendered = installed.python(
        "from pathlib import Path; from engine.prompts import render;"
        f"print(render('prompts/cot/student.j2', Path({str(dest)!r}), question='Q'))")
    assert rendered == "EDITED Q"
    again = installed.run("recipes", "copy", "cot-math", str(dest))
    assert again.returncode == 1 and "already exists" in again.stderr
    assert (dest / "prompts" / "cot" / "student.j2").read_text() == "EDITED {{ question }}"


def test_the_shipped_smoke_recipe_runs_from_the_installation(installed):
    shipped = Path(installed.python("import engine.paths as p; print(p.RECIPES_DIR)"))
    db = installed.elsewhere / "smoke.db"
    out = installed.run("run", str(shipped / "smoke.yaml"), "--db", str(db))
    assert out.returncode == 0, out.stdout + out.stderr
    out = installed.run("runs", "--json", "--db", str(db))
    assert json.loads(out.stdout)[0]["status"] == "completed"


def test_doctor_and_gui_start_from_the_installation(installed):
    out = installed.run("doctor", "--json")
    assert out.returncode == 0, out.stderr
    names = [c["name"] for c in json.loads(out.stdout)]
    assert {"Python", "torch", "CUDA", "4-bit (QLoRA)", "llama.cpp", "disk", "RAM"} <= set(names)
    out = installed.run("gui", "--db", str(installed.elsewhere / "g.db"), "--quit-after-ms", "500")
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.integration
def test_the_demo_runs_from_the_installation(installed, models_home):
    from tests.test_demo import TINY

    args = ["demo", "--db", str(installed.elsewhere / "demo.db")]
    for value in TINY:
        args += ["--set", value]
    env_models = {"DISTILLAB_MODELS": str(models_home)}
    out = subprocess.run([str(installed.venv / "bin" / "distillab"), *args],
                         cwd=installed.elsewhere, env={**installed.env(), **env_models},
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1].startswith("lab_lift: ")
