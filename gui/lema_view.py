"""LEMA's page ("Mistakes"): a student's wrong path next to the teacher's correction, aligned.

- ``align_correction``: the rows of the aligned view, one per step: the student's step,
  its verdict (correct before k, wrong at k), and on the right "unchanged" before k, the
  explanation and the corrected step at k, the corrected steps after it;
- ``CorrectionView``: those rows as a two-column table, the incorrect step highlighted, the
  explanation shown at that step;
- ``MistakesView``: a run's corrections as a table, filterable by what became of them (kept,
  or dropped for each reason), the selected one in a ``CorrectionView``, and ΔPPL per item
  before vs after training as a small plot (a point above the diagonal: training widened
  the gap between the wrong and the corrected chain).

Reads the store only; imports no model library. Preview: ``python -m gui.lema_view DB``.
"""

from __future__ import annotations

import html
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.paradigms.lema.correct import DROPS
from engine.paradigms.lema.formats import parse_triplet
from engine.paradigms.lema.rows import as_chain
from engine.store import Store, traces
from engine.store.db import from_json
from gui.run_picker import RunPicker
from gui.theme import style_plots

COLUMNS = ("trace", "item", "step", "status", "explanation / reason")
RUNS = ("SELECT r.id, r.name, COUNT(t.id) FROM runs r JOIN traces t ON t.run_id = r.id "
        "WHERE r.paradigm = 'lema' AND t.role = 'corrector' GROUP BY r.id ORDER BY r.id DESC")
WRONG, RIGHT = QColor("#ffd8d8"), QColor("#dcf5dc")


@dataclass(frozen=True)
class Row:
    number: int
    student: str  # the student's step ('' past its end)
    verdict: str  # correct / wrong / '' (after k, not judged)
    correction: str  # what the correction says at this step
    explanation: str = ""  # only at step k


def align_correction(path: str, correction: str) -> list[Row]:
    """One row per step of the longer of the path and the corrected chain."""
    chain = as_chain(path)
    t = parse_triplet(correction, len(chain.steps))
    k = t.step or 0
    new = {n: s for n, s in enumerate(t.steps, start=k)} if k else {}
    last = max(len(chain.steps), max(new, default=0))
    rows = []
    for n in range(1, last + 1):
        student = chain.steps[n - 1] if n <= len(chain.steps) else ""
        verdict = "correct" if k and n < k else "wrong" if n == k else ""
        fixed = "(unchanged)" if k and n < k else new.get(n, "")
        rows.append(Row(n, student, verdict, fixed, t.explanation if n == k else ""))
    tail = [Row(0, chain.answer_line or "", "", t.answer_line or "")]
    return rows + tail


class CorrectionView(QTableWidget):
    """The aligned rows: student's step | correction, step k highlighted, explanation there."""

    def __init__(self) -> None:
        super().__init__(0, 2)
        self.setHorizontalHeaderLabels(["Student's path", "Teacher's correction"])
        self.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setWordWrap(True)
        self.rows: list[Row] = []

    def set_texts(self, path: str, correction: str) -> None:
        self.rows = align_correction(path, correction)
        self.setRowCount(len(self.rows))
        labels = []
        for i, r in enumerate(self.rows):
            labels.append(f"Step {r.number}" if r.number else "answer")
            right = r.correction
            if r.explanation:
                right = f"Explanation: {r.explanation}\n→ {r.correction}"
            for col, text in enumerate((r.student, right)):
                cell = QTableWidgetItem(text)
                cell.setToolTip(text)
                if r.verdict == "wrong":
                    cell.setBackground(WRONG)
                elif r.verdict == "correct" and col == 0:
                    cell.setBackground(RIGHT)
                self.setItem(i, col, cell)
        self.setVerticalHeaderLabels(labels)
        self.resizeRowsToContents()


def read_corrections(store: Store, run_id: int) -> list[dict[str, Any]]:
    """Every correction of a run (correct and evolve stages) with its path and ΔPPL row."""
    rows = store.query("SELECT c.id, c.item_id, c.stage, c.output, c.parsed, c.verdict, c.flag, "
                       "p.output AS path FROM traces c JOIN traces p ON p.id = c.parent_id "
                       "WHERE c.run_id = ? AND c.role = 'corrector' ORDER BY c.id", (run_id,))
    ppl = {t.parent_id: t.parsed for t in traces.page_traces(
        store, run_id=run_id, stage="analyse", role="delta-ppl", limit=100_000)}
    out = []
    for r in rows:
        parsed = from_json(r["parsed"]) or {}
        out.append({"id": r["id"], "item_id": r["item_id"], "output": r["output"] or "",
                    "path": r["path"] or "", "parsed": parsed, "kept": r["verdict"] == "passed",
                    "flag": r["flag"] or "", "ppl": ppl.get(r["id"])})
    return out


class MistakesView(QWidget):
    """A run's corrections: the filterable table, the aligned view, the ΔPPL plot."""

    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.store = Store(db_path, readonly=True)
        self.all: list[dict[str, Any]] = []
        self.shown: list[dict[str, Any]] = []
        self.run_box = RunPicker(RUNS, ("correction", "corrections"),
                                 "Run (those that stored LEMA corrections)",
                                 "No LEMA run with corrections in this project")
        self.run_box.currentIndexChanged.connect(self._load)
        self.filter_box = QComboBox()
        self.filter_box.setToolTip("Which corrections to list: kept, or dropped for a reason")
        for label in ("all", "kept", "dropped", *[f"dropped: {d}" for d in DROPS]):
            self.filter_box.addItem(label)
        self.filter_box.currentIndexChanged.connect(self._fill)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selected)
        self.detail = CorrectionView()
        self.plot = pg.PlotWidget(title="ΔPPL = PPL(wrong) - PPL(corrected), per item")
        self.plot.setLabel("bottom", "ΔPPL before training")
        self.plot.setLabel("left", "ΔPPL after training")
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setMinimumHeight(200)
        self.summary = QLabel()
        self.retheme()
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Run:"))
        bar.addWidget(self.run_box, 1)
        bar.addWidget(QLabel("Show:"))
        bar.addWidget(self.filter_box)
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(self.detail)
        side = QWidget()
        side_box = QVBoxLayout(side)
        side_box.setContentsMargins(0, 0, 0, 0)
        side_box.addWidget(self.plot, 1)
        side_box.addWidget(self.summary)
        lower.addWidget(side)
        lower.setSizes([800, 400])
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(lower)
        split.setSizes([260, 520])
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        self.reload()

    def retheme(self) -> None:
        style_plots(self.plot)

    def reload(self, prefer: int | None = None) -> None:
        """List the runs again (``prefer``: the run to show if it has corrections)."""
        self.run_box.refill(self.store, prefer)
        self._load()

    def _load(self) -> None:
        run_id = self.run_box.run_id()
        self.all = read_corrections(self.store, run_id) if run_id is not None else []
        self._plot()
        self._fill()

    def _keep(self, c: dict[str, Any]) -> bool:
        choice = self.filter_box.currentText()
        if choice == "all":
            return True
        if choice == "kept":
            return bool(c["kept"])
        if choice == "dropped":
            return not c["kept"]
        return c["parsed"].get("drop") == choice.removeprefix("dropped: ")

    def _fill(self) -> None:
        self.shown = [c for c in self.all if self._keep(c)]
        self.table.setRowCount(len(self.shown))
        for row, c in enumerate(self.shown):
            status = "kept" if c["kept"] else f"dropped: {c['parsed'].get('drop')}"
            why = c["flag"] or parse_triplet(c["output"]).explanation
            for col, value in enumerate((c["id"], c["item_id"], c["parsed"].get("step"),
                                         status, why)):
                cell = QTableWidgetItem(" ".join(str(value).split())[:200])
                cell.setToolTip(str(value))
                self.table.setItem(row, col, cell)
        self.table.resizeColumnsToContents()
        if self.shown:
            self.table.selectRow(0)
        else:
            self.detail.setRowCount(0)

    def _selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            c = self.shown[rows[0].row()]
            self.detail.set_texts(c["path"], c["output"])

    def _plot(self) -> None:
        self.plot.clear()
        points = [(c["ppl"]["delta_before"], c["ppl"]["delta_after"]) for c in self.all
                  if c.get("ppl")]
        if not points:
            self.summary.setText("No ΔPPL yet (the analyse stage scores kept corrections).")
            return
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        lo, hi = min(xs + ys), max(xs + ys)
        self.plot.plot([lo, hi], [lo, hi], pen=pg.mkPen("#868e96", style=Qt.PenStyle.DashLine))
        self.plot.plot(xs, ys, pen=None, symbol="o", symbolSize=7,
                       symbolBrush=pg.mkBrush("#1971c2"))
        above = sum(y > x for x, y in points)
        self.summary.setText(html.escape(
            f"{len(points)} items; mean ΔPPL {sum(xs) / len(xs):.2f} before, "
            f"{sum(ys) / len(ys):.2f} after; {above} above the diagonal (gap widened)"))

    def closeEvent(self, event: Any) -> None:
        self.store.close()
        super().closeEvent(event)


if __name__ == "__main__":
    app = QApplication(sys.argv)
    view = MistakesView(Path(sys.argv[1]))
    view.resize(1300, 850)
    view.show()
    sys.exit(app.exec())
