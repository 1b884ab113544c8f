"""Compare: runs side by side. Metrics grouped into evaluation, training and cost, each
with its 95% interval beside its value (engine.metric_table); pass rates with Wilson 95%
intervals, time and teacher cost per run; per-item wins and losses of each run against the
first ticked one (the baseline); plots of solve@k against k and, once two runs have
solve@k (or pass@k), against teacher tokens (with one run that plot would be one point per
k, so a note says what is needed). Axes around a single value get a margin, never a
zero-width range.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine import browse, metric_table
from engine.store import Store, runs
from gui.monitor_view import PLOT_COLOURS
from gui.theme import colours, style_plots


class CompareView(QWidget):
    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.db_path = db_path
        self.summaries: list[browse.RunSummary] = []

        self.runs_list = QListWidget()
        self.runs_list.setToolTip("Tick the runs to compare; the first ticked is the baseline.")
        refresh = QPushButton("Refresh")
        refresh.clicked.connect(self.refresh)
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(QLabel("Runs"))
        lv.addWidget(self.runs_list, 1)
        lv.addWidget(refresh)

        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setDefaultSectionSize(24)
        self.wins_label = QLabel("Tick two runs to see per-item wins and losses.")
        self.wins_label.setWordWrap(True)
        self.items_table = QTableWidget(0, 3)
        self.items_table.setHorizontalHeaderLabels(["item", "baseline", "run"])
        self.items_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.items_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.items_table.verticalHeader().setVisible(False)
        self.plot_k = pg.PlotWidget(title="solve@k vs k")
        self.plot_tokens = pg.PlotWidget(title="solve@k vs teacher tokens")
        self.legends: dict[pg.PlotWidget, QLabel] = {}
        for plot, x in ((self.plot_k, "k"), (self.plot_tokens, "teacher tokens")):
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setLabel("bottom", x)
            plot.setLabel("left", "solve@k")
            for axis in ("left", "bottom"):
                plot.getAxis(axis).enableAutoSIPrefix(False)  # 0.75, not 750 (x0.001)
            plot.setMinimumSize(180, 200)
            # the legend is a label under the plot, so it never covers a line
            legend = QLabel()
            legend.setWordWrap(True)
            legend.setObjectName("muted")
            self.legends[plot] = legend

        lower_widget = QWidget()
        lower = QHBoxLayout(lower_widget)
        lower.setContentsMargins(0, 0, 0, 0)
        wins = QVBoxLayout()
        wins.addWidget(self.wins_label)
        wins.addWidget(self.items_table)
        lower.addLayout(wins, 2)
        k_box = QVBoxLayout()
        k_box.addWidget(self.plot_k, 1)
        k_box.addWidget(self.legends[self.plot_k])
        lower.addLayout(k_box, 2)
        self.tokens_note = QLabel()
        self.tokens_note.setWordWrap(True)
        self.tokens_note.setObjectName("muted")
        self.tokens_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        tokens_box = QVBoxLayout()
        tokens_box.addWidget(self.plot_tokens, 1)
        tokens_box.addWidget(self.legends[self.plot_tokens])
        tokens_box.addWidget(self.tokens_note, 1)
        lower.addLayout(tokens_box, 2)
        # the table above the plots, the split movable; the table gets the larger share
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.table)
        right.addWidget(lower_widget)
        right.setSizes([440, 300])

        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([240, 1000])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        self.runs_list.itemChanged.connect(self.update_comparison)
        self.retheme()
        self.refresh()

    def retheme(self) -> None:
        style_plots(self.plot_k, self.plot_tokens)

    def refresh(self) -> None:
        ticked = set(self.ticked())
        with Store(self.db_path, readonly=True) as store:
            rows = runs.list_runs(store)
        self.runs_list.blockSignals(True)
        self.runs_list.clear()
        for run in rows:
            entry = QListWidgetItem(f"run {run.id} · {run.name} · {run.shown_status}")
            entry.setData(Qt.ItemDataRole.UserRole, run.id)
            entry.setFlags(entry.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            default = run.id in ticked if ticked else run.id in [r.id for r in rows[:2]]
            entry.setCheckState(Qt.CheckState.Checked if default else Qt.CheckState.Unchecked)
            self.runs_list.addItem(entry)
        self.runs_list.blockSignals(False)
        self.update_comparison()

    def ticked(self) -> list[int]:
        """Ticked run ids, oldest first (the baseline is the oldest)."""
        ids = [int(self.runs_list.item(i).data(Qt.ItemDataRole.UserRole))
               for i in range(self.runs_list.count())
               if self.runs_list.item(i).checkState() == Qt.CheckState.Checked]
        return sorted(ids)

    def update_comparison(self) -> None:
        ids = self.ticked()
        with Store(self.db_path, readonly=True) as store:
            self.summaries = [browse.run_summary(store, i) for i in ids]
            outcomes = [browse.wins_losses(store, ids[0], other) for other in ids[1:]]
        self._fill_table()
        self._fill_wins(ids, outcomes)
        self._plot()

    def _fill_table(self) -> None:
        s = self.summaries
        rows: list[tuple[str, list[str]]] = [
            ("paradigm", [r.paradigm for r in s]),
            ("status", [r.status for r in s]),
            ("time", [f"{r.seconds:.0f} s" for r in s]),
        ]
        stages = sorted({a.stage for r in s for a in r.accuracy})
        for stage in stages:
            cells = []
            for r in s:
                acc = next((a for a in r.accuracy if a.stage == stage), None)
                cells.append(f"{acc.rate:.3f}  [{acc.low:.3f} – {acc.high:.3f}]  ({acc.passed}/"
                             f"{acc.n})" if acc else "—")
            rows.append((f"pass rate · {stage} (95% CI)", cells))
        rows += [
            ("teacher calls", [f"{r.teacher_calls:,}" for r in s]),
            ("teacher tokens used", [f"{r.tokens_used:,}" for r in s]),
            ("teacher tokens paid", [f"{r.teacher_tokens:,}" for r in s]),
            ("teacher USD used", [f"${r.usd_used:.4f}" for r in s]),
            ("teacher USD paid", [f"${r.cost_usd:.4f}" for r in s]),
        ]
        per_run = [{m.name: m for m in metric_table.rows(r.metrics)} for r in s]
        names = {name: m.group for rows_of in per_run for name, m in rows_of.items()}
        for group in metric_table.GROUPS:
            members = [n for n in sorted(names, key=metric_table.sort_key) if names[n] == group]
            if members:
                rows.append((f"— {group} —", ["" for _ in s]))
            for name in members:
                rows.append((name, [_value_ci(rows_of.get(name)) for rows_of in per_run]))
        self.table.clear()
        self.table.setColumnCount(len(s))
        self.table.setRowCount(len(rows))
        self.table.setHorizontalHeaderLabels([f"run {r.id} · {r.name}" for r in s])
        self.table.setVerticalHeaderLabels([label for label, _ in rows])
        for i, (_, cells) in enumerate(rows):
            for j, text in enumerate(cells):
                self.table.setItem(i, j, QTableWidgetItem(text))

    def _fill_wins(self, ids: list[int], outcomes: list[browse.WinLoss]) -> None:
        if not outcomes:
            self.wins_label.setText("Tick two runs to see per-item wins and losses.")
            self.items_table.setRowCount(0)
            self.items_table.setHorizontalHeaderLabels(["item", "baseline", "run"])
            return
        lines = [f"run {other} vs baseline run {ids[0]}: <b>{o.wins}</b> wins, <b>{o.losses}</b> "
                 f"losses, {o.ties} ties over {len(o.items)} shared items"
                 for other, o in zip(ids[1:], outcomes, strict=True)]
        self.wins_label.setText("<br>".join(lines))
        first = outcomes[0]
        c = colours()
        self.items_table.setHorizontalHeaderLabels(["item", f"run {ids[0]}", f"run {ids[1]}"])
        self.items_table.setRowCount(len(first.items))
        for i, item in enumerate(first.items):
            self.items_table.setItem(i, 0, QTableWidgetItem(item.label))
            for j, value in ((1, item.a), (2, item.b)):
                cell = QTableWidgetItem(f"{value:.2f}")
                if item.a != item.b:
                    better = (item.b > item.a) == (j == 2)
                    cell.setForeground(pg.mkColor(c.correct if better else c.wrong))
                self.items_table.setItem(i, j, cell)

    def _plot(self) -> None:
        self.plot_k.clear()
        self.plot_tokens.clear()
        by_k: dict[int, list[tuple[int, float]]] = {}
        names: dict[pg.PlotWidget, list[str]] = {self.plot_k: [], self.plot_tokens: []}
        for n, r in enumerate(self.summaries):
            points = browse.at_k(r.metrics)
            if not points:
                continue
            colour = PLOT_COLOURS[n % len(PLOT_COLOURS)]
            ks, values = zip(*points, strict=True)
            self.plot_k.plot(list(ks), list(values), pen=pg.mkPen(colour, width=2), symbol="o",
                             symbolBrush=colour)
            names[self.plot_k].append(_entry(colour, f"run {r.id}"))
            for k, v in points:
                by_k.setdefault(k, []).append((r.teacher_tokens, v))
        with_k = [r for r in self.summaries if browse.at_k(r.metrics)]
        two = len(with_k) >= 2
        self.plot_tokens.setVisible(two)
        self.tokens_note.setVisible(not two)
        if not two:
            self.tokens_note.setText(
                "solve@k against teacher tokens needs two runs with solve@k"
                + (f"; run {with_k[0].id} has {with_k[0].teacher_tokens:,} teacher tokens"
                   if with_k else "") + ".")
        for n, (k, pts) in enumerate(sorted(by_k.items())):
            pts.sort()
            colour = PLOT_COLOURS[n % len(PLOT_COLOURS)]
            xs, ys = zip(*pts, strict=True)
            self.plot_tokens.plot(list(xs), list(ys), pen=pg.mkPen(colour, width=1), symbol="o",
                                  symbolBrush=colour)
            names[self.plot_tokens].append(_entry(colour, f"solve@{k}"))
        for plot in (self.plot_k, self.plot_tokens):
            _sane_range(plot)
            self.legends[plot].setText(" &nbsp; ".join(names[plot]))
        self.legends[self.plot_tokens].setVisible(two)


def _entry(colour: str, name: str) -> str:
    return f"<span style='color:{colour}'>━●━</span> {name}"


def _value_ci(row: metric_table.MetricRow | None) -> str:
    if row is None:
        return "—"
    return f"{metric_table.fmt(row.value)}  {row.ci}".rstrip()


def _sane_range(plot: pg.PlotWidget) -> None:
    """Set each axis to the data's range plus a margin; a single value gets ±10% (or ±1
    at zero), so one point never makes ticks like 30805.8, 30806, 30806.23."""
    items = plot.getPlotItem().listDataItems()
    xs = [float(x) for item in items for x in (item.xData if item.xData is not None else [])]
    ys = [float(y) for item in items for y in (item.yData if item.yData is not None else [])]
    for values, setter in ((xs, plot.setXRange), (ys, plot.setYRange)):
        if not values:
            continue
        low, high = min(values), max(values)
        pad = (high - low) * 0.08 if high > low else (abs(low) * 0.1 or 1.0)
        setter(low - pad, high + pad, padding=0)


if __name__ == "__main__":
    from PySide6.QtWidgets import QApplication

    from gui.sample_data import make_sample_project
    from gui.theme import apply_theme

    app = QApplication(sys.argv)
    apply_theme(app, "light")
    db = Path("/tmp/distillab-compare-runs-preview.db")
    if not db.exists():
        make_sample_project(db)
    view = CompareView(db)
    view.resize(1300, 800)
    view.show()
    sys.exit(app.exec())
