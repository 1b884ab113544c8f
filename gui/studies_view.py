"""Studies: one study's answer. Arms as columns with mean ± CI and their costs; the paired
differences with CI, p, Holm-adjusted p and a significance mark; plots of the arms and of
the metric against a cost axis; which runs reused which stages; and the per-item win/loss
matrix of two arms, where a double-click lays that item's two traces side by side in
Traces (``item_requested``).

Everything comes from ``engine.studies.analysis`` (the same numbers as `distillab study
show` and the report), read from the store when a study is picked or refreshed.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.store import Store, studies
from engine.studies.analysis import ComparisonResult, StudyAnalysis, analyse, win_loss
from engine.studies.spec import AXES
from gui.monitor_view import PLOT_COLOURS
from gui.study_matrix import WinLossModel
from gui.theme import colours, style_plots

RESUMABLE = ("interrupted", "cancelled", "failed", "stopped")


def _table(columns: list[str]) -> QTableWidget:
    t = QTableWidget(0, len(columns))
    t.setHorizontalHeaderLabels(columns)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.verticalHeader().setDefaultSectionSize(22)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(True)
    return t


def _cell(text: str, colour: str | None = None, bold: bool = False) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if colour:
        item.setForeground(QColor(colour))
    if bold:
        font = QFont()
        font.setBold(True)
        item.setFont(font)
    return item


def _p(value: float) -> str:
    if math.isnan(value):
        return "—"
    return f"{value:.2g}" if value < 0.001 else f"{value:.3f}"


class StudiesView(QWidget):
    item_requested = Signal(int, object)  # item id, [trace id of arm a, trace id of arm b]
    resume_requested = Signal(int)  # study id

    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.db_path = db_path
        self.analysis: StudyAnalysis | None = None
        self.study_id: int | None = None

        self.study_box = QComboBox()
        self.study_box.setMinimumWidth(260)
        self.study_box.setToolTip("The study to show.")
        self.comparison_box = QComboBox()
        self.comparison_box.setMinimumWidth(220)
        self.comparison_box.setToolTip("The comparison (metric, and group of its `by` key).")
        self.refresh_button = QPushButton("Refresh")
        self.resume_button = QPushButton("Resume study")
        self.resume_button.setToolTip("Go on with the study from its last finished unit.")
        self.summary = QLabel("No study yet: Setup ▸ Run as study…, or `distillab study run`.")
        self.summary.setWordWrap(True)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Study"))
        bar.addWidget(self.study_box)
        bar.addWidget(QLabel("Comparison"))
        bar.addWidget(self.comparison_box)
        bar.addWidget(self.refresh_button)
        bar.addWidget(self.resume_button)
        bar.addStretch(1)

        self.arms_table = QTableWidget(0, 0)
        self.arms_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.arms_table.verticalHeader().setDefaultSectionSize(22)
        self.arms_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.diffs_table = _table(["b − a", "difference", "CI", "p", "p (Holm)", "", "W/L/T",
                                   "test"])
        self.diffs_table.verticalHeader().setVisible(False)
        self.diffs_table.setToolTip("Paired differences on the same (seed, item) pairs; * marks "
                                    "p (Holm) below 1 − confidence.")
        self.runs_table = _table(["arm", "seed", "run", "status", "reused stages (from run)"])
        self.runs_table.verticalHeader().setVisible(False)

        # no right-click menu on the plots: building its dialogs costs ~40 ms a plot on opening
        self.plot_arms = pg.PlotWidget(viewBox=pg.ViewBox(enableMenu=False))
        self.plot_cost = pg.PlotWidget(viewBox=pg.ViewBox(enableMenu=False))
        for plot in (self.plot_arms, self.plot_cost):
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setMinimumHeight(180)
            plot.setMinimumWidth(160)
        self.plot_cost.addLegend(offset=(-5, -5))  # bottom right: clear of high scores
        self.axis_box = QComboBox()
        self.axis_box.setToolTip("The cost axis to plot the metric against.")
        cost_panel = QWidget()
        cp = QVBoxLayout(cost_panel)
        cp.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("against"))
        row.addWidget(self.axis_box, 1)
        cp.addLayout(row)
        cp.addWidget(self.plot_cost, 1)

        self.arm_a = QComboBox()
        self.arm_b = QComboBox()
        self.matrix_label = QLabel()
        self.matrix_label.setWordWrap(True)
        self.matrix_model = WinLossModel()
        self.matrix = QTableView()
        self.matrix.setModel(self.matrix_model)
        self.matrix.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.matrix.verticalHeader().setDefaultSectionSize(22)
        self.matrix.verticalHeader().setVisible(False)
        self.matrix.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.matrix.setToolTip("Double-click a cell: that item's two traces side by side.")
        matrix_panel = QWidget()
        mp = QVBoxLayout(matrix_panel)
        mp.setContentsMargins(0, 0, 0, 0)
        pick = QHBoxLayout()
        pick.addWidget(QLabel("Arm A"))
        pick.addWidget(self.arm_a, 1)
        pick.addWidget(QLabel("vs B"))
        pick.addWidget(self.arm_b, 1)
        mp.addLayout(pick)
        mp.addWidget(self.matrix_label)
        mp.addWidget(self.matrix, 1)

        tables = QWidget()
        tv = QVBoxLayout(tables)
        tv.setContentsMargins(0, 0, 0, 0)
        tv.addWidget(QLabel("<b>Arms</b> (mean with its confidence interval; costs per run)"))
        tv.addWidget(self.arms_table, 2)
        tv.addWidget(QLabel("<b>Paired differences</b> (b − a on the same items)"))
        tv.addWidget(self.diffs_table, 2)
        plots = QWidget()
        pv = QHBoxLayout(plots)
        pv.setContentsMargins(0, 0, 0, 0)
        pv.addWidget(self.plot_arms, 1)
        pv.addWidget(cost_panel, 1)
        self.bottom_tabs = QTabWidget()
        self.bottom_tabs.addTab(matrix_panel, "Win/loss by item")
        self.bottom_tabs.addTab(self.runs_table, "Runs and reused stages")
        upper = QSplitter()
        upper.addWidget(tables)
        upper.addWidget(plots)
        upper.setSizes([650, 550])
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(upper)
        split.addWidget(self.bottom_tabs)
        split.setSizes([470, 330])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.summary)
        layout.addWidget(split, 1)

        self.study_box.currentIndexChanged.connect(self._study_picked)
        self.comparison_box.currentIndexChanged.connect(self.show_comparison)
        self.axis_box.currentIndexChanged.connect(self._plot_cost)
        self.arm_a.currentIndexChanged.connect(self.update_matrix)
        self.arm_b.currentIndexChanged.connect(self.update_matrix)
        self.refresh_button.clicked.connect(self.refresh)
        self.resume_button.clicked.connect(self._resume)
        self.matrix.activated.connect(self.open_cell)
        self.matrix.doubleClicked.connect(self.open_cell)
        self.retheme()
        self.refresh()

    # -- loading -------------------------------------------------------------------------
    def retheme(self) -> None:
        style_plots(self.plot_arms, self.plot_cost)

    def refresh(self) -> None:
        """Re-read the list of studies and the shown study (e.g. after a study job)."""
        with Store(self.db_path, readonly=True) as store:
            found = studies.list_studies(store)
        keep = self.study_id
        self.study_box.blockSignals(True)
        self.study_box.clear()
        for s in found:
            self.study_box.addItem(f"study {s.id} · {s.name} · {s.shown_status}", s.id)
        index = self.study_box.findData(keep) if keep is not None else 0
        self.study_box.setCurrentIndex(max(0, index))
        self.study_box.blockSignals(False)
        if found:
            self.load(int(self.study_box.currentData()))
        else:
            self.resume_button.setEnabled(False)

    def _study_picked(self) -> None:
        if self.study_box.currentData() is not None:
            self.load(int(self.study_box.currentData()))

    def load(self, study_id: int) -> None:
        with Store(self.db_path, readonly=True) as store:
            self.analysis = a = analyse(store, study_id)
        self.study_id = study_id
        computed, reused = a.reuse_counts()
        seeds = ", ".join(map(str, a.study.seeds))
        self.summary.setText(
            f"<b>study {a.study_id} · {a.name}</b> · {a.status} · {len(a.arms)} arms × "
            f"{len(a.study.seeds)} seeds ({seeds}) · stages computed {computed}, reused "
            f"{reused}" + (f"<br>{a.study.description}" if a.study.description else "")
            + (f"<br><span style='color:{colours().wrong}'>{a.error}</span>" if a.error else ""))
        self.resume_button.setEnabled(a.status in RESUMABLE)
        self._fill_runs(a)
        for box in (self.arm_a, self.arm_b):
            box.blockSignals(True)
            box.clear()
            box.addItems(a.arms)
            box.blockSignals(False)
        self.comparison_box.blockSignals(True)
        self.comparison_box.clear()
        self.comparison_box.addItems([c.title for c in a.comparisons])
        self.comparison_box.blockSignals(False)
        self.show_comparison(0)

    def _resume(self) -> None:
        if self.study_id is not None:
            self.resume_requested.emit(self.study_id)

    @property
    def comparison(self) -> ComparisonResult | None:
        a = self.analysis
        i = self.comparison_box.currentIndex()
        return a.comparisons[i] if a is not None and 0 <= i < len(a.comparisons) else None

    # -- tables --------------------------------------------------------------------------
    def show_comparison(self, _: int = 0) -> None:
        c, a = self.comparison, self.analysis
        if c is None or a is None:
            return
        self._fill_arms(a, c)
        self._fill_diffs(c)
        self._plot_arms(c)
        self.axis_box.blockSignals(True)
        self.axis_box.clear()
        for ax in c.spec.cost_axes:
            self.axis_box.addItem(AXES[ax], ax)
        self.axis_box.blockSignals(False)
        self._plot_cost()
        pair = c.pairs[0] if c.pairs else None
        if pair is not None:
            for box, arm in ((self.arm_a, pair.a), (self.arm_b, pair.b)):
                box.blockSignals(True)
                box.setCurrentText(arm)
                box.blockSignals(False)
        self.update_matrix()

    def _fill_arms(self, a: StudyAnalysis, c: ComparisonResult) -> None:
        conf = f"{c.spec.confidence:.0%} CI"
        rows: list[tuple[str, list[str]]] = [
            (f"{c.spec.metric} ± half CI", [
                "—" if math.isnan(r.estimate.mean) else
                f"{r.estimate.mean:.3f} ± {r.estimate.half_width():.3f}" for r in c.arms]),
            (conf, ["—" if math.isnan(r.estimate.low) else
                    f"{r.estimate.low:.3f} – {r.estimate.high:.3f}" for r in c.arms]),
            ("items · seeds", [f"{r.estimate.n} · {r.estimate.seeds}" for r in c.arms]),
        ]
        for ax in c.spec.cost_axes:
            rows.append((AXES[ax], ["—" if math.isnan(a.costs[r.arm][ax].mean) else
                                    f"{a.costs[r.arm][ax].mean:.4g}" for r in c.arms]))
        for b in c.budget:
            if not b.ok:
                rows.append(("over/under budget", [f"{x.ratio:.2f}× median" if x.arm == b.arm
                                                   else "" for x in c.budget]))
                break
        t = self.arms_table
        t.clear()
        t.setColumnCount(len(c.arms))
        t.setRowCount(len(rows))
        t.setHorizontalHeaderLabels([r.arm for r in c.arms])
        t.setVerticalHeaderLabels([label for label, _ in rows])
        for i, (_, cells) in enumerate(rows):
            for j, text in enumerate(cells):
                t.setItem(i, j, _cell(text, bold=i == 0))

    def _fill_diffs(self, c: ComparisonResult) -> None:
        col = colours()
        t = self.diffs_table
        t.setRowCount(len(c.pairs))
        for i, p in enumerate(c.pairs):
            d = p.result.diff
            colour = (col.correct if d.mean > 0 else col.wrong) if p.significant else None
            cells = [_cell(f"{p.b} − {p.a}"),
                     _cell("—" if not d.n else f"{d.mean:+.3f}", colour, bold=p.significant),
                     _cell("—" if math.isnan(d.low) else f"{d.low:+.3f} – {d.high:+.3f}"),
                     _cell(_p(p.result.p)), _cell(_p(p.p_holm)),
                     _cell("*" if p.significant else "", colour, bold=True),
                     _cell(f"{p.result.wins}/{p.result.losses}/{p.result.ties}"),
                     _cell(p.result.test)]
            for j, item in enumerate(cells):
                t.setItem(i, j, item)

    def _fill_runs(self, a: StudyAnalysis) -> None:
        t = self.runs_table
        t.setRowCount(len(a.runs))
        for i, r in enumerate(a.runs):
            reused = ", ".join(f"{s} (run {src})" for s, src in r.reused) or "—"
            for j, text in enumerate((r.arm, str(r.seed), str(r.run_id), r.status, reused)):
                t.setItem(i, j, _cell(text))

    # -- plots ---------------------------------------------------------------------------
    def _plot_arms(self, c: ComparisonResult) -> None:
        """Means with their intervals, one colour per arm, seeds as small dots beside them
        (three plot items in all: far cheaper to build than one per arm)."""
        plot = self.plot_arms
        plot.clear()
        plot.setTitle(f"mean, {c.spec.confidence:.0%} CI (dots: seeds)", color=colours().text,
                      size="10pt")
        plot.setLabel("left", c.spec.metric)
        shown = [(i, r.estimate) for i, r in enumerate(c.arms)
                 if not math.isnan(r.estimate.mean) and not math.isnan(r.estimate.low)]
        if shown:
            xs = np.array([i for i, _ in shown], dtype=float)
            ys = np.array([e.mean for _, e in shown])
            plot.addItem(pg.ErrorBarItem(
                x=xs, y=ys, top=np.array([e.high - e.mean for _, e in shown]),
                bottom=np.array([e.mean - e.low for _, e in shown]), beam=0.25,
                pen=pg.mkPen(colours().text, width=1.5)))
        means = [(i, r.estimate.mean) for i, r in enumerate(c.arms)
                 if not math.isnan(r.estimate.mean)]
        plot.addItem(pg.ScatterPlotItem(
            x=[i for i, _ in means], y=[m for _, m in means], size=11, pen=None,
            brush=[pg.mkBrush(PLOT_COLOURS[i % len(PLOT_COLOURS)]) for i, _ in means]))
        dots = [(i + 0.15, v, PLOT_COLOURS[i % len(PLOT_COLOURS)]) for i, r in enumerate(c.arms)
                for v in r.seed_means.values()]
        plot.addItem(pg.ScatterPlotItem(
            x=[d[0] for d in dots], y=[d[1] for d in dots], size=5, pen=None,
            brush=[pg.mkBrush(pg.mkColor(d[2]).lighter(150)) for d in dots]))
        plot.getAxis("bottom").setTicks([[(i, r.arm) for i, r in enumerate(c.arms)]])
        plot.setXRange(-0.6, len(c.arms) - 0.4)

    def _plot_cost(self) -> None:
        """The metric against a cost axis: a point per arm (its own legend entry) with both
        intervals as bars."""
        c, a, axis = self.comparison, self.analysis, self.axis_box.currentData()
        plot = self.plot_cost
        plot.clear()
        if c is None or a is None or axis is None:
            return
        plot.setTitle(f"per arm, {c.spec.confidence:.0%} CIs", color=colours().text, size="10pt")
        plot.setLabel("bottom", AXES[axis])
        plot.setLabel("left", c.spec.metric)
        points = [(i, r, a.costs[r.arm][axis]) for i, r in enumerate(c.arms)
                  if not math.isnan(r.estimate.mean) and not math.isnan(a.costs[r.arm][axis].mean)]
        if not points:
            return
        xs = np.array([cost.mean for _, _, cost in points])
        ys = np.array([r.estimate.mean for _, r, _ in points])

        def half(values: list[float]) -> np.ndarray:
            return np.nan_to_num(np.array(values), nan=0.0)

        plot.addItem(pg.ErrorBarItem(
            x=xs, y=ys, top=half([r.estimate.high - r.estimate.mean for _, r, _ in points]),
            bottom=half([r.estimate.mean - r.estimate.low for _, r, _ in points]),
            left=half([cost.mean - cost.low for _, _, cost in points]),
            right=half([cost.high - cost.mean for _, _, cost in points]),
            pen=pg.mkPen(colours().muted, width=1.5)))
        for i, r, cost in points:
            colour = PLOT_COLOURS[i % len(PLOT_COLOURS)]
            plot.plot([cost.mean], [r.estimate.mean], pen=None, symbol="o", symbolSize=11,
                      symbolBrush=colour, symbolPen=None, name=r.arm)
        bottom = plot.getAxis("bottom")
        low, high = float(np.min(xs)), float(np.max(xs))
        if high - low <= 1e-9 * max(1.0, abs(high)):  # every arm costs the same: one tick,
            # not 179.6 ... 180.4 around a single value
            pad = max(1.0, abs(high) * 0.05)
            plot.setXRange(high - pad, high + pad, padding=0)
            bottom.setTicks([[(high, f"{high:,.6g}")], []])
            plot.setTitle(f"per arm, {c.spec.confidence:.0%} CIs (equal cost)",
                          color=colours().text, size="10pt")
        else:
            bottom.setTicks(None)

    # -- win/loss matrix -----------------------------------------------------------------
    def update_matrix(self) -> None:
        c = self.comparison
        a, b = self.arm_a.currentText(), self.arm_b.currentText()
        if c is None or self.study_id is None or not a or not b or a == b:
            self.matrix_model.set_rows([], a, b)
            self.matrix_label.setText("Pick two different arms.")
            return
        with Store(self.db_path, readonly=True) as store:
            rows = win_loss(store, self.analysis, c, a, b) if self.analysis else []
        self.matrix_model.set_rows(rows, a, b)
        if rows:  # the question column as wide as the others together, not stretched
            header = self.matrix.horizontalHeader()
            header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(0, max(340, self.matrix.viewport().width() // 3))
        wins = sum(r.outcome == "win" for r in rows)
        losses = sum(r.outcome == "loss" for r in rows)
        self.matrix_label.setText(
            f"<b>{b}</b> vs <b>{a}</b> on {c.spec.metric}: <span style='color:"
            f"{colours().correct}'>▲ {wins} higher</span>, <span style='color:"
            f"{colours().wrong}'>▼ {losses} lower</span>, = {len(rows) - wins - losses} tied "
            f"over {len(rows)} (seed, item) pairs. Double-click a cell for the traces.")

    def open_cell(self, index: QModelIndex) -> None:
        cell = self.matrix_model.cell(index)
        if cell is None:
            return
        ids = [t for t in (cell.trace_a, cell.trace_b) if t is not None]
        self.item_requested.emit(cell.item_id, ids)


if __name__ == "__main__":
    from PySide6.QtWidgets import QApplication

    from gui.theme import apply_theme

    app = QApplication(sys.argv)
    apply_theme(app, "light")
    db = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("/tmp/distillab-study-preview.db")
    if not db.exists():
        from bench.study_view import make_study

        make_study(db, arms=4, seeds=3, items=60)
    view = StudiesView(db)
    view.resize(1300, 850)
    view.show()
    sys.exit(app.exec())
