"""Shared fixtures: every test gets its own data dir and database (never the user's)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# GUI tests need no screen: a plain `pytest` run works like `bash test.sh`
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def models_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Converted models are shared by the whole test session (converting takes seconds)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
                   models_home: Path):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("DISTILLAB_HOME", str(home))
    monkeypatch.setenv("DISTILLAB_MODELS", str(models_home))
    monkeypatch.delenv("DISTILLAB_DB", raising=False)
    return home


@pytest.fixture
def no_leaked_supervisors():
    """GUI tests: fail any test that leaves an engine thread (the job QThread) running."""
    from gui.engine_thread import JobSupervisor

    yield
    leaked = JobSupervisor.running()
    for sup in leaked:
        sup.kill()
        sup.wait(10_000)
    assert not leaked, f"{len(leaked)} engine thread(s) still running after the test"


def open_page(qtbot, db: Path, page: str):
    """The app's main window on ``db`` (1400x900), shown on ``page``; closed with the test."""
    from gui.app import MainWindow

    window = MainWindow(db)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    window.show_page(page)
    assert window.nav.currentItem().text() == page
    return window


def assert_empty_page(window, page: str, *words: str) -> None:
    """``page`` shows no run, its picker is empty and its note has ``words``."""
    view = window.stack.currentWidget()
    assert window.nav.currentItem().text() == page
    assert view.run_box.count() == 0 and view.run_id is None and view.pages.currentIndex() == 1
    note = view.pages.currentWidget().text()
    assert all(w in note for w in words), note


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "project.db"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def smoke_recipe_text(data_path: Path, **stage_params: dict) -> str:
    """A smoke recipe over ``data_path`` (absolute), with optional per-stage parameters."""
    stages = "".join(f"  {name}: {json.dumps(params)}\n" for name, params in stage_params.items())
    return (
        "schema_version: 1\nname: t\nparadigm: smoke\nseed: 3\n"
        f"dataset:\n  path: {data_path}\n  fields: {{solution: solution, answer: answer}}\n"
        + ("stages:\n" + stages if stages else "")
    )


@pytest.fixture
def math_rows() -> list[dict]:
    """Ten tiny worked problems; items 0-7 have right answers, 8-9 wrong ones."""
    rows = []
    for i in range(10):
        answer = i * 3 if i < 8 else i * 3 + 1
        rows.append({"question": f"What is {i} times 3?",
                     "solution": f"We multiply.\n{i} * 3 = {i * 3}\n#### {i * 3}",
                     "answer": str(answer)})
    return rows


def spawn_cli(*args: str, ctrl_c: bool = False) -> subprocess.Popen:
    """`python -m engine.cli ARGS` in a child process, stdout discarded. With ``ctrl_c`` its
    stderr is a text pipe and SIGINT is at its default, as in a terminal: a child started
    from a non-interactive shell's `&` would inherit SIGINT ignored. Without it, stderr is
    discarded too (a pipe nobody reads could fill and block the child)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def default_sigint() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)

    return subprocess.Popen([sys.executable, "-m", "engine.cli", *args], env=env,
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE if ctrl_c else subprocess.DEVNULL,
                            text=True, preexec_fn=default_sigint if ctrl_c else None)
