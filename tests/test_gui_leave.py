"""Leaving the window with a job running: keep it running in the background (the next
window on the project shows it, and it finishes every unit exactly once), cancel it, or
stay. And Settings' data folder: where new projects go, and the recent-projects list."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.store import Store, runs
from gui import app as gui_app
from gui import handover
from gui import settings as app_settings

from .conftest import write_jsonl

pytestmark = [pytest.mark.gui, pytest.mark.usefixtures("no_leaked_supervisors")]


def _window(qtbot, db: Path):
    w = gui_app.MainWindow(db)
    qtbot.addWidget(w)
    w.show()
    return w


@pytest.fixture
def running(qtbot, tmp_path, math_rows):
    """A window whose smoke job is under way (10 items, 0.4 s each in `echo`)."""
    w = _window(qtbot, tmp_path / "leave.db")
    data = write_jsonl(tmp_path / "d.jsonl", math_rows)
    setup = w.setup_view
    setup.name.setText("leave-job")
    setup.data.set_values({"path": str(data), "fields": {"solution": "solution",
                                                         "answer": "answer"}})
    setup.stages.forms["echo"].fields["delay_s"][0].setText("0.4")
    setup.run()
    qtbot.waitUntil(lambda: "echo" in w.monitor_view.stage_rows
                    and w.monitor_view.stage_rows["echo"].bar.value() >= 2, timeout=30_000)
    return w


def _answer(window, monkeypatch, choice: str) -> list[str]:
    asked: list[str] = []

    def ask() -> str:
        asked.append(choice)
        return choice

    monkeypatch.setattr(window, "ask_leave", ask)
    return asked


def _traces(db: Path) -> tuple[str, int]:
    with Store(db) as store:
        return runs.get_run(store, 1).status, store.one("SELECT COUNT(*) FROM traces")[0]


@pytest.mark.slow
def test_stay_keeps_the_window_and_the_job(qtbot, running, monkeypatch):
    asked = _answer(running, monkeypatch, gui_app.STAY)
    assert running.close() is False
    assert asked == [gui_app.STAY] and running.isVisible() and running.supervisor is not None
    running.cancel_job()  # clean up: the job ends cancelled, the window stays
    qtbot.waitUntil(lambda: running.supervisor is None, timeout=30_000)
    assert running.isVisible() and _traces(running.db_path)[0] == "cancelled"


@pytest.mark.slow
def test_cancel_stops_after_the_unit_in_flight_then_the_window_closes(qtbot, running,
                                                                      monkeypatch):
    asked = _answer(running, monkeypatch, gui_app.CANCEL)
    running.close()
    assert "Cancelling" in running.job_label.text()
    qtbot.waitUntil(lambda: not running.isVisible(), timeout=30_000)
    status, n = _traces(running.db_path)
    assert asked == [gui_app.CANCEL] and status == "cancelled" and 2 <= n < 10
    assert running.supervisor is None and handover.active(running.db_path) == []


@pytest.mark.slow
def test_keep_running_hands_the_job_to_the_background_and_reopening_shows_it(
        qtbot, running, monkeypatch):
    db = running.db_path
    _answer(running, monkeypatch, gui_app.KEEP)
    running.close()
    qtbot.waitUntil(lambda: not running.isVisible(), timeout=30_000)
    (job,) = handover.active(db)
    assert (job.kind, job.ident) == ("run", 1) and handover.alive(job)
    again = _window(qtbot, db)
    assert again.job_label.text() == f"In the background: Run 1 (pid {job.pid})"
    assert "running in the background" in again.monitor_view.header.text()
    assert again.cancel_button.isEnabled()
    # it goes on in the detached process and ends there; the window sees it end
    qtbot.waitUntil(lambda: not again.background, timeout=120_000)
    assert again.job_label.text() == "Run 1 ended"
    assert _traces(db) == ("completed", 10)  # every unit exactly once across the hand-over
    assert "completed" in again.monitor_view.header.text()
    assert "resum" in Path(job.log).read_text()  # the detached `distillab resume` log


def test_the_data_folder_decides_where_new_projects_go_and_recent_projects_open(
        qtbot, tmp_path, monkeypatch):
    first = tmp_path / "first.db"
    w = _window(qtbot, first)
    view = w.settings_view
    folder = tmp_path / "projects"
    view.data_dir.setText(str(folder))
    view.data_dir.editingFinished.emit()
    assert app_settings.projects_dir() == folder and folder.is_dir()
    assert app_settings.default_project(tmp_path / "fallback.db") == folder / "distillab.db"
    monkeypatch.setenv("DISTILLAB_DB", str(tmp_path / "env.db"))
    assert app_settings.default_project(tmp_path / "env.db") == tmp_path / "env.db"
    # File > New project starts in the folder; a bare name is created there
    seen: list[str] = []

    def save_dialog(parent, title, start, filters):
        seen.append(start)
        return "exp1", filters

    monkeypatch.setattr(gui_app.QFileDialog, "getSaveFileName", save_dialog)
    w._new_project()
    assert Path(seen[0]).parent == folder
    assert w.db_path == folder / "exp1.db" and (folder / "exp1.db").is_file()
    # a folder that cannot be made is refused with the reason; the setting stays
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    view.data_dir.setText(str(blocker / "sub"))
    view.data_dir.editingFinished.emit()
    assert view.data_dir_problem.isVisibleTo(view) and "cannot create" in \
        view.data_dir_problem.text()
    assert app_settings.projects_dir() == folder
    # both projects are in the recent list, newest first; activating one opens it
    names = [view.recent.item(i).data(0x0100) for i in range(view.recent.count())]
    assert names[:2] == [str((folder / "exp1.db").resolve()), str(first.resolve())]
    view.recent.itemActivated.emit(view.recent.item(1))
    assert w.db_path == first.resolve()


def test_distillab_gui_without_db_opens_the_project_in_the_data_folder(tmp_path):
    import os
    import subprocess
    import sys

    from .conftest import ROOT

    folder = tmp_path / "my-projects"
    store = app_settings.app_settings()
    store.setValue("data_dir", str(folder))
    store.sync()
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "engine.cli", "gui", "--quit-after-ms", "300"],
                          env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    assert (folder / "distillab.db").is_file()  # not the default database in the data dir
    assert not (Path(os.environ["DISTILLAB_HOME"]) / "distillab.db").exists()
