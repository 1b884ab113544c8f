"""The desktop app's entry point: a main window over one project database.

At this stage it lists the project's runs with their stages; the Setup, Traces and
Compare views join it (issue 7). It imports no model library: jobs run in a worker
process (engine.jobs).
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.store import Store, runs


class RunsView(QWidget):
    """The runs of a project, newest first, and the stages of the selected one."""

    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.db_path = db_path
        self.runs_table = QTableWidget(0, 4)
        self.runs_table.setHorizontalHeaderLabels(["id", "name", "paradigm", "status"])
        self.runs_table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.stages_table = QTableWidget(0, 4)
        self.stages_table.setHorizontalHeaderLabels(["stage", "status", "done", "seconds"])
        splitter = QSplitter()
        splitter.addWidget(self.runs_table)
        splitter.addWidget(self.stages_table)
        layout = QVBoxLayout(self)
        self.header = QLabel(f"Project: {db_path}")
        layout.addWidget(self.header)
        layout.addWidget(splitter)
        self.runs_table.itemSelectionChanged.connect(self._show_stages)
        self.refresh()

    def refresh(self) -> None:
        with Store(self.db_path) as store:
            rows = runs.list_runs(store)
        self.runs_table.setRowCount(len(rows))
        for i, run in enumerate(rows):
            for j, value in enumerate((run.id, run.name, run.paradigm, run.shown_status)):
                self.runs_table.setItem(i, j, QTableWidgetItem(str(value)))

    def _show_stages(self) -> None:
        selected = self.runs_table.selectedItems()
        if not selected:
            return
        cell = self.runs_table.item(selected[0].row(), 0)
        if cell is None:
            return
        run_id = int(cell.text())
        with Store(self.db_path) as store:
            stages = runs.stages(store, run_id)
        self.stages_table.setRowCount(len(stages))
        for i, s in enumerate(stages):
            for j, value in enumerate((s.name, s.status, f"{s.done}/{s.total}",
                                       f"{s.seconds:.1f}")):
                self.stages_table.setItem(i, j, QTableWidgetItem(value))


class MainWindow(QMainWindow):
    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.setWindowTitle(f"Distillab — {db_path.name}")
        self.runs_view = RunsView(db_path)
        self.setCentralWidget(self.runs_view)
        self.resize(1000, 600)
        self.statusBar().showMessage("No job running")


def main(db_path: Path, quit_after_ms: int | None = None) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    window = MainWindow(db_path)
    window.show()
    if quit_after_ms is not None:
        QTimer.singleShot(quit_after_ms, app.quit)
    return int(app.exec())


if __name__ == "__main__":
    from engine.paths import default_db

    sys.exit(main(default_db()))
