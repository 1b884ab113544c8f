"""The desktop app's main window: one project (a database file) at a time, navigation
between Setup, Runs, Traces, Compare, Studies, the paradigm pages (Pairs: SuperCorrect,
Mistakes: LEMA, Rounds: ELAD, Search: REER), Playground and Settings, a status bar with the running job,
and the engine thread that runs jobs in a worker process.

It imports no model library: jobs run in a worker process (engine.jobs), supervised by
``gui.engine_thread.JobSupervisor``; a crash there is shown in the Runs view and the
window carries on. Leaving with a job running asks: keep it running in the background
(gui.handover: the job goes on in a detached ``distillab resume``, and the next window on
the project shows it), cancel it (the unit in flight finishes and training saves a
checkpoint first), or stay.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QWidget,
)

import engine
from engine import events as ev
from engine.jobs import JobSpec
from engine.store import Store
from gui import handover
from gui import settings as app_settings
from gui.compare_view import CompareView
from gui.elad_view import EladView
from gui.engine_thread import JobSupervisor
from gui.lema_view import MistakesView
from gui.monitor_view import MonitorView
from gui.playground_view import PlaygroundView
from gui.reer_search import ReerSearchView
from gui.settings import SettingsView
from gui.setup_view import SetupView
from gui.studies_view import StudiesView
from gui.supercorrect_view import PairsView
from gui.theme import app_icon, apply_theme
from gui.traces_view import TracesView

# the answers of the leave dialog
KEEP, CANCEL, STAY = "keep", "cancel", "stay"
BACKGROUND_POLL_MS = 1000  # how often the Runs view re-reads a job running in the background
PAGES = ("Setup", "Runs", "Traces", "Compare", "Studies", "Pairs", "Mistakes", "Rounds", "Search",
         "Playground", "Settings")
ABOUT = """<h3>Distillab</h3>
<p>A desktop lab for reasoning-distillation experiments: teacher traces, QLoRA students,
step-level comparison, all in one SQLite file per project.</p>
<p>Project database: <code>{db}</code></p>
<p>Licence: Apache-2.0. The embedded model is SmolLM2-135M-Instruct (Apache-2.0).</p>"""


class MainWindow(QMainWindow):
    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.setWindowIcon(app_icon())
        self.supervisor: JobSupervisor | None = None
        self.background: list[handover.Background] = []
        self._leaving: str | None = None  # KEEP or CANCEL while the job winds down to close
        self._study_id: int | None = None
        self.db_path = db_path
        self.nav = QListWidget()
        self.nav.setObjectName("nav")
        self.nav.addItems(PAGES)
        self.nav.setFixedWidth(150)
        self.stack = QStackedWidget()
        self.settings_view = SettingsView()
        self.settings_view.theme_changed.connect(self.set_theme)
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(6, 6, 6, 6)
        row.addWidget(self.nav)
        row.addWidget(self.stack, 1)
        self.setCentralWidget(central)
        self.job_label = QLabel("No job running")
        self.cancel_button = QPushButton("Cancel job")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_job)
        self._bg_timer = QTimer(self, interval=BACKGROUND_POLL_MS)
        self._bg_timer.timeout.connect(self._poll_background)
        self.statusBar().addPermanentWidget(self.job_label)
        self.statusBar().addPermanentWidget(self.cancel_button)
        self._menus()
        self.nav.currentRowChanged.connect(self._page)
        self.resize(1360, 880)
        self.open_project(db_path)

    # -- project -------------------------------------------------------------------------
    def open_project(self, db_path: Path) -> None:
        if self.supervisor is not None:
            QMessageBox.information(self, "Distillab", "Wait for the running job to end (or "
                                    "cancel it) before switching projects.")
            return
        try:
            Store(db_path).close()  # creates and migrates a new project
        except RuntimeError as exc:
            QMessageBox.warning(self, "Cannot open the project", str(exc))
            return
        self.db_path = db_path
        app_settings.add_recent(db_path)
        self._fill_recent()
        while self.stack.count():
            old = self.stack.widget(0)
            if old is None:
                break
            self.stack.removeWidget(old)
            if old is not self.settings_view:
                old.close()
                old.deleteLater()
        self.setup_view = SetupView(db_path)
        self.monitor_view = MonitorView(db_path)
        self.traces_view = TracesView(db_path)
        self.compare_view = CompareView(db_path)
        self.studies_view = StudiesView(db_path)
        self.pairs_view = PairsView(db_path)
        self.playground_view = PlaygroundView(db_path)
        self.mistakes_view = MistakesView(db_path)
        self.rounds_view = EladView(db_path)
        self.search_view = ReerSearchView(db_path)
        for view in (self.setup_view, self.monitor_view, self.traces_view, self.compare_view,
                     self.studies_view, self.pairs_view, self.mistakes_view, self.rounds_view,
                     self.search_view, self.playground_view, self.settings_view):
            self.stack.addWidget(view)
        self.studies_view.item_requested.connect(self.open_item_traces)
        self.pairs_view.item_requested.connect(self.open_item_traces)
        self.studies_view.resume_requested.connect(
            lambda study_id: self.start_job(JobSpec(str(self.db_path), resume_study_id=study_id)))
        self.setup_view.run_requested.connect(self.start_job)
        self.monitor_view.resume_requested.connect(
            lambda run_id: self.start_job(JobSpec(str(self.db_path), resume_run_id=run_id)))
        self.monitor_view.cancel_requested.connect(self.cancel_job)
        self._stale = {"Traces": False, "Compare": False, "Studies": False}
        self.playground_view.saved.connect(lambda _ids: self._stale.update(Traces=True))
        self.settings_view.open_requested.connect(self.open_project)
        self.setWindowTitle(f"Distillab — {db_path.name}")
        self.nav.setCurrentRow(1 if self.monitor_view.table.rowCount() else 0)
        self._show_background()

    def _menus(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        for text, keys, slot in (("&New project…", "Ctrl+N", self._new_project),
                                 ("&Open project…", "Ctrl+O", self._open_project),
                                 ("Open &recipe YAML…", "Ctrl+R", self._open_recipe)):
            action = QAction(text, self)
            action.setShortcut(keys)
            action.triggered.connect(slot)
            file_menu.addAction(action)
        self.recent_menu = file_menu.addMenu("Recent projects")
        file_menu.addSeparator()
        quit_action = QAction("&Quit", self)
        quit_action.setShortcut("Ctrl+Q")
        quit_action.triggered.connect(self.close)
        file_menu.addAction(quit_action)
        help_menu = self.menuBar().addMenu("&Help")
        about = QAction("&About Distillab", self)
        about.triggered.connect(self.about)
        help_menu.addAction(about)
        check = QAction("&Environment check…", self)
        check.triggered.connect(self.welcome)
        help_menu.addAction(check)

    def _fill_recent(self) -> None:
        self.settings_view.fill_recent()
        self.recent_menu.clear()
        for path in app_settings.recent_projects():
            action = QAction(str(path), self)
            action.triggered.connect(lambda _=False, p=path: self.open_project(p))
            self.recent_menu.addAction(action)
        self.recent_menu.setEnabled(bool(self.recent_menu.actions()))

    def _new_project(self) -> None:
        folder = app_settings.projects_dir()
        path, _ = QFileDialog.getSaveFileName(self, "New project", str(folder / "project.db"),
                                              "Distillab projects (*.db)")
        if path:
            self.open_project(app_settings.new_project_path(path))

    def _open_project(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open project", str(self.db_path.parent),
                                              "Distillab projects (*.db);;All files (*)")
        if path:
            self.open_project(Path(path))

    def _open_recipe(self) -> None:
        self.show_page("Setup")
        self.setup_view.open_yaml()

    def about(self) -> None:
        box = QMessageBox(self)
        box.setWindowTitle("About Distillab")
        box.setIconPixmap(app_icon().pixmap(96, 96))
        box.setText(ABOUT.format(db=self.db_path))
        box.setTextFormat(Qt.TextFormat.RichText)
        self.about_box = box
        box.open()

    def welcome(self) -> None:
        """The first-run welcome (gui/welcome.py): the environment check, sample project."""
        from gui.welcome import show_welcome

        self.welcome_dialog = show_welcome(self, self.open_project, lambda: self.show_page("Setup"))

    def show_page(self, name: str) -> None:
        self.nav.setCurrentRow(PAGES.index(name))

    def _page(self, row: int) -> None:
        self.stack.setCurrentIndex(row)
        name = PAGES[row]
        if name == "Traces" and self._stale["Traces"]:
            self._stale["Traces"] = False
            self.traces_view.reload()
        if name == "Compare" and self._stale["Compare"]:
            self._stale["Compare"] = False
            self.compare_view.refresh()
        paradigm_pages = {"Pairs": self.pairs_view, "Mistakes": self.mistakes_view,
                          "Rounds": self.rounds_view, "Search": self.search_view}
        if name in paradigm_pages:  # the run picked on Runs, if it is one the page shows
            paradigm_pages[name].reload(self.monitor_view.run_id)
        if name == "Playground":
            self.playground_view.refresh()
        if name == "Studies" and self._stale["Studies"]:
            self._stale["Studies"] = False
            self.studies_view.refresh()

    def open_item_traces(self, item_id: int, trace_ids: list[int]) -> None:
        """From the Studies view's win/loss matrix: the item's traces of the two arms, side
        by side and step-aligned, in Traces (those two ticked)."""
        self.show_page("Traces")
        view = self.traces_view
        view.show_item(item_id, trace_ids[0] if trace_ids else None)
        view.choices.blockSignals(True)
        for i in range(view.choices.count()):
            entry = view.choices.item(i)
            ticked = int(entry.data(Qt.ItemDataRole.UserRole)) in trace_ids
            entry.setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)
        view.choices.blockSignals(False)
        view.compare(trace_ids)

    def set_theme(self, name: str) -> None:
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, name)
        self.monitor_view.retheme()
        self.compare_view.retheme()
        self.studies_view.retheme()
        for view in (self.mistakes_view, self.rounds_view, self.search_view):
            view.retheme()
        self.traces_view.steps._render()

    # -- jobs ----------------------------------------------------------------------------
    def start_job(self, spec: JobSpec) -> None:
        if self.supervisor is not None or self.background:
            QMessageBox.information(self, "Distillab", "A job is already running; cancel it or "
                                    "wait for it to end.")
            return
        self._study_id = spec.resume_study_id
        sup = JobSupervisor(spec, self)
        sup.received.connect(self._on_event)
        sup.ended.connect(self._on_ended)
        self.supervisor = sup
        self.cancel_button.setEnabled(True)
        self.job_label.setText("Starting the worker…")
        sup.start_job()
        self.show_page("Runs")

    def cancel_job(self) -> None:
        if self.supervisor is not None:
            self.supervisor.cancel()
            self.job_label.setText("Cancelling after the unit in flight…")
        elif self.background:
            for b in self.background:
                handover.stop(b)
            self.job_label.setText("Interrupting the background job…")

    def _on_event(self, event: ev.Event) -> None:
        self.monitor_view.on_event(event)
        if isinstance(event, ev.RunStarted):
            self.job_label.setText(f"Run {event.run_id} · {event.name} · starting")
        elif isinstance(event, ev.Progress):
            eta = f" · ETA {event.eta_s:.0f} s" if event.eta_s is not None else ""
            self.job_label.setText(f"Run {event.run_id} · {event.stage} "
                                   f"{event.done}/{event.total}{eta}")
        elif isinstance(event, ev.TraceStored):
            self._stale.update(Traces=True, Compare=True)
        elif isinstance(event, ev.StudyStarted):
            self._study_id = event.study_id
        elif isinstance(event, ev.StudyProgress) and event.arm:
            self.job_label.setText(f"Study {event.study_id} · run {event.done + 1}/{event.total}"
                                   f" · {event.arm}, seed {event.seed}")

    def _on_ended(self, final: ev.Event | None) -> None:
        sup = self.supervisor
        self.supervisor = None
        self.cancel_button.setEnabled(False)
        if isinstance(final, ev.JobFailed):
            self.job_label.setText(f"Run {final.run_id or '?'} failed")
            self.statusBar().showMessage(f"The job failed: {final.error}", 15_000)
        elif isinstance(final, ev.JobFinished):
            self.job_label.setText(f"Run {final.run_id} {final.status}")
        elif isinstance(final, ev.StudyFinished):
            self.job_label.setText(f"Study {final.study_id or '?'} {final.status}")
            if final.status != "completed":
                self.statusBar().showMessage(f"The study {final.status}: {final.message}", 15_000)
        self._stale = {"Traces": True, "Compare": True, "Studies": True}
        if self.stack.currentWidget() is self.studies_view:
            self._stale["Studies"] = False
            self.studies_view.refresh()
        if sup is not None:
            sup.wait(5_000)
            sup.deleteLater()
        if self._leaving is not None:
            self._finish_leaving(sup, final)

    # -- leaving with a job running ------------------------------------------------------
    def ask_leave(self) -> str:
        """KEEP, CANCEL or STAY (tests replace this method to answer)."""
        box = QMessageBox(self)
        box.setWindowTitle("A job is running")
        box.setIcon(QMessageBox.Icon.Question)
        box.setText(f"{self.job_label.text()}. What should happen to it?")
        box.setInformativeText(
            "Keep it running: it goes on in the background after the window closes, and "
            "opening this project again shows it.\nCancel it: the unit in flight finishes "
            "and training saves a checkpoint first; Resume goes on later.")
        keep = box.addButton("Keep running in the background", QMessageBox.ButtonRole.AcceptRole)
        cancel = box.addButton("Cancel the job", QMessageBox.ButtonRole.DestructiveRole)
        stay = box.addButton("Stay", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(stay)
        box.exec()
        clicked = box.clickedButton()
        return KEEP if clicked is keep else CANCEL if clicked is cancel else STAY

    def closeEvent(self, event: QCloseEvent) -> None:
        sup = self.supervisor
        if sup is not None:
            if self._leaving is None:
                choice = self.ask_leave()
                if choice == STAY:
                    event.ignore()
                    return
                self._leaving = choice
                sup.cancel()  # cooperative: the unit in flight ends, training checkpoints
                self.job_label.setText("Handing the job to the background…" if choice == KEEP
                                       else "Cancelling (checkpoint first)…")
            event.ignore()  # closes for real once the job has ended (_finish_leaving)
            return
        self._bg_timer.stop()
        self.traces_view.close()
        super().closeEvent(event)

    def _finish_leaving(self, sup: JobSupervisor | None, final: ev.Event | None) -> None:
        """The job has ended: if it stopped because of the cancel (not finished, not failed)
        and the answer was KEEP, hand it to a detached resume; then close."""
        cancelled = getattr(final, "status", None) == "cancelled"
        if self._leaving == KEEP and cancelled:
            run_id = getattr(final, "run_id", None) or (sup.run_id if sup else None)
            if self._study_id is not None:
                handover.start(self.db_path, "study", self._study_id)
            elif run_id:
                handover.start(self.db_path, "run", int(run_id))
        self._leaving = None
        self.close()

    # -- jobs in the background ------------------------------------------------------------
    def _show_background(self) -> None:
        """Show the project's jobs that run in the background (from an earlier window)."""
        self.background = handover.active(self.db_path)
        if not self.background:
            self._bg_timer.stop()
            return
        names = ", ".join(f"{b.label} (pid {b.pid})" for b in self.background)
        self.job_label.setText(f"In the background: {names}")
        self.cancel_button.setEnabled(True)
        first = self.background[0]
        if first.kind == "run":
            self.monitor_view.watch_background(first.ident, first.pid)
        self._bg_timer.start()

    def _poll_background(self) -> None:
        ended = [b for b in self.background if not handover.alive(b)]
        if ended:
            self.job_label.setText(", ".join(f"{b.label} ended" for b in ended))
            self.cancel_button.setEnabled(self.supervisor is not None)
            self.background = [b for b in self.background if handover.alive(b)]
            self._stale = {"Traces": True, "Compare": True, "Studies": True}
        self.monitor_view.poll_background(ended=bool(ended) and not self.background)
        if not self.background:
            self._bg_timer.stop()


def main(db_path: Path, quit_after_ms: int | None = None) -> int:
    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(sys.argv[:1])
    app.setApplicationName("Distillab")
    app.setApplicationVersion(getattr(engine, "__version__", "0.1"))
    app.setWindowIcon(app_icon())
    app.setDesktopFileName("distillab")  # matches `distillab install-desktop`'s entry
    apply_theme(app, app_settings.theme())
    window = MainWindow(db_path)
    window.show()
    from gui.welcome import first_run

    if first_run():
        window.welcome()
    if quit_after_ms is not None:
        QTimer.singleShot(quit_after_ms, window.close)
        QTimer.singleShot(quit_after_ms, app.quit)
    return int(app.exec())


if __name__ == "__main__":
    # `distillab gui` starts this module as its own program, so the engine never imports Qt
    import argparse

    from engine.paths import default_db

    parser = argparse.ArgumentParser(prog="python -m gui.app", description="Distillab desktop app")
    parser.add_argument("--db", type=Path, default=None, help="project database")
    parser.add_argument("--quit-after-ms", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sys.exit(main(args.db or app_settings.default_project(default_db()),
                  quit_after_ms=args.quit_after_ms))
