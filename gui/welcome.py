"""The first-run welcome: what this machine can do (the `distillab doctor` check), and two
ways in: open the sample project (traces to look at at once) or start a new experiment.

Shown once per user (the ``welcome_shown`` key in the GUI settings), and again from
Help > Environment check. The check imports torch and bitsandbytes, so it runs as its own
program (``python -m engine.cli doctor --json``) through a QProcess: the window never loads
a model library and stays responsive while it runs (about 5-10 s on 2 cores).
"""

from __future__ import annotations

import html
import json
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QProcess, Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from engine.paths import data_dir
from gui.settings import app_settings
from gui.theme import colours

SHOWN_KEY = "welcome_shown"
SAMPLE_NAME = "sample-project.db"
MARKS = {"ok": ("works", "correct"), "warn": ("limited", "unknown"), "missing": ("missing", "wrong")}


def first_run() -> bool:
    return str(app_settings().value(SHOWN_KEY, "")) != "1"


def mark_shown() -> None:
    settings = app_settings()
    settings.setValue(SHOWN_KEY, "1")
    settings.sync()


def demo_project() -> Path | None:
    """The default project, if it holds a completed run of a shipped demo (`distillab demo`
    writes there): the demo's own traces, before and after training."""
    from engine.paths import default_db
    from engine.store import Store

    path = default_db()
    if not path.is_file():
        return None
    try:
        with Store(path) as store:
            row = store.one("SELECT COUNT(*) FROM runs WHERE status = 'completed' AND "
                            "name LIKE '%-demo'")
    except Exception:  # an unreadable or foreign file is no demo project
        return None
    return path if row is not None and row[0] else None


def sample_project() -> Path:
    """The demo's project if `distillab demo` has run, else the sample project in the data
    dir, written on first use: the smoke recipe plus a distilled-student run with traces,
    steps, metrics and costs (about 3 s, no models)."""
    demo = demo_project()
    if demo is not None:
        return demo
    path = data_dir() / SAMPLE_NAME
    if not path.exists():
        from gui.sample_data import make_sample_project

        try:
            make_sample_project(path)
        except BaseException:  # no half-written sample left to open next time
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                leftover.unlink(missing_ok=True)
            raise
    return path


def checks_html(checks: list[dict[str, str]]) -> str:
    """The doctor's checks as a table: what works, what is limited, what to install."""
    c = colours()
    rows = []
    for check in checks:
        word, colour_name = MARKS.get(check["status"], ("?", "unknown"))
        colour = getattr(c, colour_name)
        fix = (f"<br><span style='color:{c.muted}'>{html.escape(check['fix'])}</span>"
               if check.get("fix") else "")
        rows.append(f"<tr><td style='color:{colour}; font-weight:600; padding-right:10px'>{word}"
                    f"</td><td style='padding-right:10px'><b>{html.escape(check['name'])}</b></td>"
                    f"<td>{html.escape(check['detail'])}{fix}</td></tr>")
    return "<table cellspacing='0' cellpadding='3'>" + "".join(rows) + "</table>"


class WelcomeDialog(QDialog):
    """Non-modal, so the main window stays usable (and `--quit-after-ms` still quits)."""

    def __init__(self, parent: QWidget | None, open_sample: Callable[[], None],
                 new_experiment: Callable[[], None]) -> None:
        super().__init__(parent)
        self.setWindowTitle("Welcome to Distillab")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self.resize(780, 470)
        intro = QLabel("<h2>Welcome to Distillab</h2><p>A lab for reasoning distillation: a "
                       "teacher writes reasoning traces, a local student learns from them, and "
                       "every trace is kept step by step. First, what this machine can do:</p>")
        intro.setWordWrap(True)
        self.report = QTextBrowser()
        self.report.setOpenExternalLinks(False)
        self.report.setHtml("<p>Checking this machine (Python, torch, CUDA, 4-bit, llama.cpp, "
                            "disk, RAM)…</p>")
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.sample_button = QPushButton("Open the sample project")
        self.sample_button.setToolTip("A project with a finished run's traces, steps, metrics "
                                      "and costs, to look around in at once")
        self.new_button = QPushButton("Start a new experiment")
        self.new_button.setToolTip("Pick a recipe, a teacher and a student in Setup")
        self.close_button = QPushButton("Close")
        self.sample_button.clicked.connect(lambda: self._then(open_sample))
        self.new_button.clicked.connect(lambda: self._then(new_experiment))
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.sample_button)
        buttons.addWidget(self.new_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.report, 1)
        layout.addWidget(self.summary)
        layout.addLayout(buttons)
        self.checks: list[dict[str, str]] | None = None
        self.process = QProcess(self)
        self.process.finished.connect(self._checked)

    def start_check(self) -> None:
        self.process.start(sys.executable, ["-m", "engine.cli", "doctor", "--json"])

    def _checked(self, code: int, _status: object = None) -> None:
        raw = bytes(self.process.readAllStandardOutput().data()).decode("utf-8", "replace")
        try:
            checks = json.loads(raw)
        except ValueError:
            err = bytes(self.process.readAllStandardError().data()).decode("utf-8", "replace")
            self.report.setHtml(f"<p>The environment check failed (exit {code}). Run "
                                f"<code>distillab doctor</code> in a terminal to see why.</p>"
                                f"<pre>{html.escape(err[-2000:])}</pre>")
            return
        self.set_checks(checks)

    def set_checks(self, checks: list[dict[str, str]]) -> None:
        from engine.doctor import Check, summary

        self.checks = checks
        self.report.setHtml(checks_html(checks))
        self.summary.setText(summary([Check(**c) for c in checks]) + ". The same check in a "
                             "terminal: distillab doctor")

    def _then(self, action: Callable[[], None]) -> None:
        self.close()
        action()

    def stop_check(self) -> None:
        if self.process.state() != QProcess.ProcessState.NotRunning:
            self.process.kill()
            self.process.waitForFinished(3000)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.stop_check()
        super().closeEvent(event)


def show_welcome(window: QWidget, open_project: Callable[[Path], None],
                 show_setup: Callable[[], None]) -> WelcomeDialog:
    """Open the welcome beside ``window``, start the environment check, and remember that
    it was shown (it comes back only from Help > Environment check)."""
    dialog = WelcomeDialog(window, lambda: open_project(sample_project()), show_setup)
    app = QApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(dialog.stop_check)
    dialog.show()
    dialog.start_check()
    mark_shown()
    return dialog
