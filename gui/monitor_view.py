"""Runs: the project's runs, and a monitor of the selected (or running) one: per-stage
progress bars with counts and ETA, live plots of loss, lr and other metrics (pyqtgraph),
teacher tokens and cost so far, a log tail, and errors with their fix.

A finished run is drawn from the store (engine.browse.run_state); the running one is
updated from engine events that the main window forwards to ``on_event``. Redraws are
batched on a 200 ms timer so a chatty job cannot flood the event loop.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine import browse
from engine import events as ev
from engine.store import Store, runs
from gui.theme import colours

RESUMABLE = ("failed", "cancelled", "stopped", "interrupted")
LOG_LINES = 500
PLOT_COLOURS = ["#4f7bd9", "#e07b39", "#1f9d6b", "#b04fd9", "#d6453d", "#8a93a6"]


def _natural(name: str) -> list[Any]:
    """Sort key putting solve@2 before solve@10."""
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", name)]


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    if seconds >= 3600:
        return f"ETA {seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"ETA {seconds // 60} min {seconds % 60:02d} s"
    return f"ETA {seconds} s"


class StageRow:
    """One stage's name, bar (done/total) and ETA."""

    def __init__(self, grid: QGridLayout, row: int, name: str) -> None:
        self.name = QLabel(name)
        self.bar = QProgressBar()
        self.bar.setFormat("%v / %m")
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.info = QLabel("pending")
        self.info.setMinimumWidth(170)
        grid.addWidget(self.name, row, 0)
        grid.addWidget(self.bar, row, 1)
        grid.addWidget(self.info, row, 2)

    def set(self, done: int, total: int, info: str) -> None:
        self.bar.setRange(0, max(total, 1))
        self.bar.setValue(min(done, max(total, 1)) if total else 0)
        self.bar.setFormat(f"{done} / {total}" if total else "—")
        self.info.setText(info)


class MonitorView(QWidget):
    resume_requested = Signal(int)
    cancel_requested = Signal()

    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.db_path = db_path
        self.run_id: int | None = None
        self.live_run: int | None = None
        self.series: dict[str, list[tuple[int, float]]] = {}
        self.stage_rows: dict[str, StageRow] = {}
        self._dirty = False

        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["id", "name", "paradigm", "status"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.refresh_button = QPushButton("Refresh")
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Go on from the last finished unit (nothing is paid twice).")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop after the unit in flight; Resume goes on later.")
        left = QWidget()
        lv = QVBoxLayout(left)
        lv.setContentsMargins(0, 0, 0, 0)
        lv.addWidget(self.table)
        buttons = QHBoxLayout()
        for b in (self.refresh_button, self.resume_button, self.cancel_button):
            buttons.addWidget(b)
        lv.addLayout(buttons)

        right = QWidget()
        rv = QVBoxLayout(right)
        self.header = QLabel("Select a run, or start one from Setup.")
        self.header.setObjectName("title")
        rv.addWidget(self.header)
        self.banner = QFrame()
        self.banner.setObjectName("banner")
        bl = QVBoxLayout(self.banner)
        self.banner_text = QLabel()
        self.banner_text.setWordWrap(True)
        self.banner_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bl.addWidget(self.banner_text)
        self.banner.hide()
        rv.addWidget(self.banner)
        self.stages_box = QGroupBox("Stages")
        self.stages_grid = QGridLayout(self.stages_box)
        self.stages_grid.setColumnStretch(1, 1)
        rv.addWidget(self.stages_box)
        self.cost = QLabel("Teacher: no calls yet")
        self.latest = QLabel("")
        self.latest.setWordWrap(True)
        info = QHBoxLayout()
        info.addWidget(self.cost, 1)
        info.addWidget(self.latest, 2)
        rv.addLayout(info)
        plots = QHBoxLayout()
        pg.setConfigOptions(antialias=False)  # cheaper repaints while a job streams
        self.plots: dict[str, pg.PlotWidget] = {}
        for key, title in (("loss", "loss"), ("lr", "learning rate"), ("other", "metrics")):
            plot = pg.PlotWidget(title=title)
            plot.setMinimumHeight(170)
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.addLegend(offset=(-5, 5))
            self.plots[key] = plot
            plots.addWidget(plot)
        rv.addLayout(plots, 2)
        rv.addWidget(QLabel("Log"))
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        self.log.setStyleSheet("font-family: monospace;")
        self.log.setPlaceholderText("No log yet for this run; "
                                    "a stored run shows its stages, metrics and errors above.")
        rv.addWidget(self.log, 1)

        split = QSplitter()
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([330, 900])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        self._apply_plot_theme()

        self.table.itemSelectionChanged.connect(self._selected)
        self.refresh_button.clicked.connect(self.refresh)
        self.resume_button.clicked.connect(self._resume)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self._timer = QTimer(self, interval=200)
        self._timer.timeout.connect(self._redraw)
        self._timer.start()
        self.refresh()

    # -- list of runs --------------------------------------------------------------------
    def refresh(self) -> None:
        with Store(self.db_path, readonly=True) as store:
            rows = runs.list_runs(store)
        keep = self.run_id
        self.table.blockSignals(True)
        self.table.setRowCount(len(rows))
        for i, run in enumerate(rows):
            for j, value in enumerate((run.id, run.name, run.paradigm, run.shown_status)):
                self.table.setItem(i, j, QTableWidgetItem(str(value)))
            if run.id == keep:
                self.table.selectRow(i)
        self.table.resizeColumnToContents(0)
        self.table.blockSignals(False)
        if keep is None and rows:
            self.table.selectRow(0)
        self._buttons()

    def _selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            cell = self.table.item(rows[0].row(), 0)
            if cell is not None:
                self.show_run(int(cell.text()))

    def _status_of(self, run_id: int) -> str:
        for i in range(self.table.rowCount()):
            cell = self.table.item(i, 0)
            status = self.table.item(i, 3)
            if cell is not None and status is not None and int(cell.text()) == run_id:
                return status.text()
        return ""

    def _buttons(self) -> None:
        live = self.live_run is not None
        status = self._status_of(self.run_id) if self.run_id is not None else ""
        self.resume_button.setEnabled(not live and status in RESUMABLE)
        self.cancel_button.setEnabled(live)

    def _resume(self) -> None:
        if self.run_id is not None:
            self.resume_requested.emit(self.run_id)

    # -- one run -------------------------------------------------------------------------
    def show_run(self, run_id: int) -> None:
        """Draw a run from the store (its state so far)."""
        with Store(self.db_path, readonly=True) as store:
            state = browse.run_state(store, run_id)
        if run_id != self.run_id:
            self.log.clear()
            self._load_log(run_id)
        self.run_id = run_id
        self.table.blockSignals(True)
        for i in range(self.table.rowCount()):
            cell = self.table.item(i, 0)
            if cell is not None and int(cell.text()) == run_id:
                self.table.selectRow(i)
        self.table.blockSignals(False)
        self.header.setText(f"Run {state.id} · {state.name} · {state.paradigm} · {state.status}")
        self._set_stages([s.name for s in state.stages])
        for s in state.stages:
            info = s.status + (f" · {s.seconds:.1f} s" if s.seconds else "")
            self.stage_rows[s.name].set(s.done, s.total, info)
        self.series = {k: list(v) for k, v in state.series.items()}
        self._cost(state.cost)
        if state.error and state.status != "completed":
            message, _, hint = state.error.partition("\n")
            self.show_error(message, hint)
        else:
            self.banner.hide()
        self._dirty = True
        self._redraw()
        self._buttons()

    def _set_stages(self, names: list[str]) -> None:
        if list(self.stage_rows) == names:
            return
        while self.stages_grid.count():
            item = self.stages_grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.hide()
                widget.deleteLater()
        self.stage_rows = {n: StageRow(self.stages_grid, i, n) for i, n in enumerate(names)}

    def _cost(self, cost: browse.TeacherCost) -> None:
        if cost.calls or cost.answers_reused:
            self.cost.setText(f"Teacher: {cost.calls} calls · used {cost.tokens_used:,} tokens, "
                              f"${cost.usd_used:.4f} · paid {cost.tokens_paid:,} tokens "
                              f"({cost.tokens_in:,} in, {cost.tokens_out:,} out), "
                              f"${cost.cost_usd:.4f} · {cost.answers_reused} answers from the cache")
        else:
            self.cost.setText("Teacher: no calls yet")

    def show_error(self, message: str, hint: str) -> None:
        self.banner_text.setText(f"<b>✗ {message}</b>" + (f"<br>Fix: {hint}" if hint else ""))
        self.banner.show()

    # -- live events ---------------------------------------------------------------------
    def on_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.RunStarted):
            self.live_run = event.run_id
            self.refresh()
            self.show_run(event.run_id)
            self._log(f"run {event.run_id} {'resumed' if event.resumed else 'started'}: "
                      f"{event.name} ({event.paradigm})")
            return
        if event.run_id and event.run_id != self.run_id:
            return
        if isinstance(event, ev.StageStarted):
            self._log(f"stage {event.stage} ({event.index + 1}/{event.n_stages})")
            row = self.stage_rows.get(event.stage)
            if row:
                row.info.setText("running")
        elif isinstance(event, ev.Progress):
            row = self.stage_rows.get(event.stage)
            if row:
                rate = f"{event.rate:.1f}/s · " if event.rate else ""
                row.set(event.done, event.total, f"{rate}{_eta(event.eta_s)}" or "running")
        elif isinstance(event, ev.Metric):
            points = self.series.setdefault(event.name, [])
            points.append((event.step if event.step is not None else len(points), event.value))
            self._dirty = True
        elif isinstance(event, ev.Log):
            first = event.message.splitlines()[0] if event.message else ""
            self._log(f"[{event.level}] {event.stage + ': ' if event.stage else ''}{first}")
        elif isinstance(event, ev.StageFinished):
            row = self.stage_rows.get(event.stage)
            if row:
                row.info.setText(f"{event.status} · {event.seconds:.1f} s")
        elif isinstance(event, ev.JobFinished):
            self._log(f"{event.status}: {event.message} ({event.seconds:.1f} s)")
            self._ended()
        elif isinstance(event, ev.JobFailed):
            self._log(f"failed: {event.error}")
            self.show_error(event.error, event.hint)
            self._ended()

    def _ended(self) -> None:
        run = self.live_run
        self.live_run = None
        self.refresh()
        if run is not None and self.run_id == run:
            banner = self.banner.isVisible(), self.banner_text.text()
            self.show_run(run)
            if banner[0]:  # keep the failure message (a killed worker left no error row)
                self.banner_text.setText(banner[1])
                self.banner.show()

    def _load_log(self, run_id: int) -> None:
        """The stored log of a run (engine/runner.py appends it to run.log), its last lines."""
        from engine.paths import run_log_path

        path = run_log_path(self.db_path, run_id)
        if path.is_file():
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            self.log.setPlainText("\n".join(lines[-LOG_LINES:]))

    def _log(self, line: str) -> None:
        self.log.appendPlainText(line)

    # -- plots ---------------------------------------------------------------------------
    def _apply_plot_theme(self) -> None:
        c = colours()
        for plot in self.plots.values():
            plot.setBackground(c.base)
            for axis in ("left", "bottom"):
                plot.getAxis(axis).setTextPen(c.text)
                plot.getAxis(axis).setPen(c.muted)
            plot.getPlotItem().titleLabel.setText(plot.getPlotItem().titleLabel.text, color=c.text)

    def retheme(self) -> None:
        self._apply_plot_theme()
        self._dirty = True

    def _redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        for plot in self.plots.values():
            plot.clear()
            plot.enableAutoRange()
        counters = {k: 0 for k in self.plots}
        singles: list[tuple[str, float]] = []
        for name, points in sorted(self.series.items(), key=lambda kv: _natural(kv[0])):
            key = _plot_for(name)
            if len(points) < 2 or key is None:
                if points:
                    singles.append((name, points[-1][1]))
                continue
            colour = PLOT_COLOURS[counters[key] % len(PLOT_COLOURS)]
            counters[key] += 1
            xs, ys = zip(*points, strict=True)
            self.plots[key].plot(list(xs), list(ys), pen=pg.mkPen(colour, width=2), name=name)
        self.latest.setText(" · ".join(f"{n} = {v:.4g}" for n, v in singles))
        values = dict(singles)
        shown = [(n, v) for n, v in singles if HEADLINE.fullmatch(n.rsplit("/", 1)[-1])]
        if not counters["other"] and shown:
            # no metric series to draw: the run's single values as bars, with their
            # confidence interval (name_ci_low / name_ci_high) as error bars where known
            plot = self.plots["other"]
            plot.addItem(pg.BarGraphItem(x=list(range(len(shown))), height=[v for _, v in shown], width=0.6,
                                         brush=PLOT_COLOURS[0]))
            ci: list[tuple[int, float, float, float]] = []
            for i, (n, v) in enumerate(shown):
                low, high = values.get(f"{n}_ci_low"), values.get(f"{n}_ci_high")
                if low is not None and high is not None:
                    ci.append((i, v, v - low, high - v))
            if ci:
                x, y, below, above = (np.array(col, dtype=np.float64) for col in zip(*ci, strict=True))
                plot.addItem(pg.ErrorBarItem(x=x, y=y, top=above, bottom=below, beam=0.2,
                                             pen=pg.mkPen(colours().text, width=1.5)))
            plot.getAxis("bottom").setTicks([[(i, n) for i, (n, _) in enumerate(shown)]])
        else:
            self.plots["other"].getAxis("bottom").setTicks(None)


# rates worth a bar of their own (solve@k, pass@k, accuracy, win rate), by last name part
HEADLINE = re.compile(r"(solve|pass)@\d+|accuracy|win_rate")


def _plot_for(name: str) -> str | None:
    """Which live plot a metric series belongs to, by its last name part (train/lr -> lr);
    None for training diagnostics and curves, shown as latest values in the text line."""
    last = name.rsplit("/", 1)[-1]
    if last.endswith("loss"):
        return "loss"
    if last in ("lr", "learning_rate"):
        return "lr"
    if last in ("eta_s", "tokens_per_s", "grad_norm") or name.startswith(("curve/", "grid/")):
        return None
    return "other"


if __name__ == "__main__":
    from PySide6.QtWidgets import QApplication

    from gui.sample_data import make_sample_project
    from gui.theme import apply_theme

    app = QApplication(sys.argv)
    apply_theme(app, "light")
    db = Path("/tmp/distillab-monitor-preview.db")
    if not db.exists():
        make_sample_project(db)
    view = MonitorView(db)
    view.resize(1300, 800)
    view.show()
    sys.exit(app.exec())
