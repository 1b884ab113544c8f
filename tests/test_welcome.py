"""The first-run welcome: the real environment check (a `distillab doctor --json` subprocess)
in a dialog, shown once; its two buttons open the sample project or the Setup view."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from engine.paths import data_dir
from engine.store import Store, runs

pytestmark = pytest.mark.gui
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "shots" / "welcome"


@pytest.fixture
def window(qtbot, db_path, no_leaked_supervisors):
    from gui.app import MainWindow

    win = MainWindow(db_path)
    qtbot.addWidget(win)
    win.show()
    return win


@pytest.mark.slow
def test_first_start_shows_the_machine_check_once_and_opens_the_sample_project(window, qtbot):
    from gui import welcome

    assert welcome.first_run()
    window.welcome()
    dialog = window.welcome_dialog
    assert dialog.isVisible() and not welcome.first_run()  # shown once: remembered at once
    qtbot.waitUntil(lambda: dialog.checks is not None, timeout=120_000)
    text = dialog.report.toPlainText()
    for name in ("Python", "torch", "CUDA", "4-bit (QLoRA)", "llama.cpp", "disk", "RAM"):
        assert name in text
    assert sys.version.split()[0] in text
    assert "checks ok" in dialog.summary.text()
    if os.environ.get("DISTILLAB_SHOTS"):  # docs/shots/welcome, written by hand
        SHOTS.mkdir(parents=True, exist_ok=True)
        dialog.grab().save(str(SHOTS / f"welcome-{QApplication.platformName()}.png"))
    dialog.sample_button.click()
    assert not dialog.isVisible()
    sample = data_dir() / welcome.SAMPLE_NAME
    assert window.db_path == sample
    with Store(sample) as store:
        listed = runs.list_runs(store)
    assert len(listed) >= 2 and window.monitor_view.table.rowCount() == len(listed)


def test_start_a_new_experiment_goes_to_setup_and_a_failed_check_says_how_to_see_why(window,
                                                                                      qtbot):
    from gui import welcome

    dialog = welcome.WelcomeDialog(window, lambda: None, lambda: window.show_page("Setup"))
    qtbot.addWidget(dialog)
    window.show_page("Runs")
    dialog.show()
    dialog.new_button.click()
    assert window.stack.currentWidget() is window.setup_view and not dialog.isVisible()
    dialog.process.start(sys.executable, ["-c", "import sys; sys.exit(4)"])
    qtbot.waitUntil(lambda: "failed (exit 4)" in dialog.report.toPlainText(), timeout=30_000)
    assert "distillab doctor" in dialog.report.toPlainText() and dialog.checks is None


def test_the_check_table_marks_each_status_and_shows_the_fix():
    from gui.welcome import checks_html

    out = checks_html([{"name": "CUDA", "status": "warn", "detail": "no <GPU>", "fix": "buy one"},
                       {"name": "RAM", "status": "ok", "detail": "24 GiB", "fix": ""}])
    assert "limited" in out and "works" in out and "no &lt;GPU&gt;" in out and "buy one" in out


def test_the_sample_button_opens_the_demos_project_once_the_demo_has_run(tmp_path):
    from engine.cli import main
    from engine.paths import RECIPES_DIR, default_db
    from gui import welcome

    assert welcome.demo_project() is None
    smoke = str(RECIPES_DIR / "smoke.yaml")
    assert main(["run", smoke, "--set", "name=plain-smoke"]) == 0  # the default project
    assert welcome.demo_project() is None
    assert main(["run", smoke, "--set", "name=cot-demo"]) == 0  # as `distillab demo` names it
    assert welcome.demo_project() == default_db() == welcome.sample_project()
    assert not (data_dir() / welcome.SAMPLE_NAME).exists()
