"""Runs: the project's runs, and a monitor of the selected (or running) one: per-stage
progress bars with counts and ETA, the metrics as a table grouped into evaluation,
training and cost with each 95% interval beside its value (engine.metric_table), live
plots of loss, lr and other metric series (pyqtgraph; legends below the plots, never on
the lines), teacher tokens and cost so far, a log tail, and errors with their fix.

The training cockpit (gui.cockpit): the curves of the whole run with smoothing, log scale
and an outlier clip, eval loss beside train loss, the machine's load (CPU, RAM; GPU only
where nvidia-ml-py reads one), and the probe timeline with "keep this checkpoint"; a
picked checkpoint is marked on the curves.

A finished run is drawn from the store (engine.browse.run_state); the running one is
updated from engine events that the main window forwards to ``on_event``. Redraws are
batched on a 200 ms timer so a chatty job cannot flood the event loop.
"""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QTextCursor
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
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine import browse, curves, metric_table
from engine import events as ev
from engine.store import Store, runs
from gui.cockpit import CurveControls, ProbeTimeline
from gui.theme import colours, style_plots

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
        self.background_run: tuple[int, int] | None = None  # (run id, pid) of a detached job
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
        rv.addWidget(self.cost)
        self.metrics = QTreeWidget()
        self.metrics.setColumnCount(4)
        self.metrics.setHeaderLabels(["metric", "value", "95% CI", "n"])
        self.metrics.setRootIsDecorated(False)
        self.metrics.setUniformRowHeights(True)
        self.metrics.setMinimumWidth(430)
        self.metrics.setToolTip("Each metric's latest value (cost/*: the run's total), with "
                                "its 95% interval where the run stored one.")
        self.curve_controls = CurveControls()
        rv.addWidget(self.curve_controls)
        panels = QHBoxLayout()
        panels.addWidget(self.metrics, 4)
        plot_grid = QGridLayout()  # loss | lr over metric series | machine load
        plot_grid.setContentsMargins(0, 0, 0, 0)
        pg.setConfigOptions(antialias=False)  # cheaper repaints while a job streams
        self.plots: dict[str, pg.PlotWidget] = {}
        self.legends: dict[str, QLabel] = {}
        self.plot_boxes: dict[str, QWidget] = {}
        self.picked_step: int | None = None
        self._log_ticks = False  # the plots carry the log axis' own ticks (_log_ticks)
        for i, (key, title) in enumerate((("loss", "loss"), ("lr", "learning rate"),
                                          ("other", "metric series"),
                                          ("system", "machine load (%)"))):
            plot = pg.PlotWidget(title=title)
            plot.setMinimumHeight(120)
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setLabel("bottom", "step")
            legend = QLabel()
            legend.setWordWrap(True)
            legend.setObjectName("muted")
            box = QWidget()
            bv = QVBoxLayout(box)
            bv.setContentsMargins(0, 0, 0, 0)
            bv.setSpacing(2)
            bv.addWidget(plot, 1)
            bv.addWidget(legend)
            self.plots[key], self.legends[key], self.plot_boxes[key] = plot, legend, box
            plot_grid.addWidget(box, i // 2, i % 2)
        panels.addLayout(plot_grid, 7)
        rv.addLayout(panels, 3)
        self.probe = ProbeTimeline(db_path)
        rv.addWidget(self.probe, 2)
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
        self.curve_controls.changed.connect(self._replot)
        self.probe.checkpoint_picked.connect(self._pick_step)
        self.probe.kept.connect(lambda _step: self.refresh())
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
        live = self.live_run is not None or self.background_run is not None
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
        background = self.background_run is not None and self.background_run[0] == run_id
        if run_id != self.run_id or background:
            self.log.clear()
            self._load_log(run_id)
        self.run_id = run_id
        self.table.blockSignals(True)
        for i in range(self.table.rowCount()):
            cell = self.table.item(i, 0)
            if cell is not None and int(cell.text()) == run_id:
                self.table.selectRow(i)
        self.table.blockSignals(False)
        where = (f" · running in the background (pid {self.background_run[1]})"
                 if self.background_run and self.background_run[0] == run_id else "")
        self.header.setText(f"Run {state.id} · {state.name} · {state.paradigm} · "
                            f"{state.status}{where}")
        self._set_stages([s.name for s in state.stages])
        for s in state.stages:
            info = s.status + (f" · {s.seconds:.1f} s" if s.seconds else "")
            self.stage_rows[s.name].set(s.done, s.total, info)
        self.series = {k: list(v) for k, v in state.series.items()}
        self.probe.load(run_id)
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

    # -- a job running in the background (gui.handover) ---------------------------------
    def watch_background(self, run_id: int, pid: int) -> None:
        """Show a run that a detached process is running; ``poll_background`` re-reads it."""
        self.background_run = (run_id, pid)
        self.refresh()
        self.show_run(run_id)

    def poll_background(self, ended: bool) -> None:
        if self.background_run is None:
            return
        run_id, _ = self.background_run
        if ended:
            self.background_run = None
            self.refresh()
        if self.run_id == run_id:
            self.show_run(run_id)

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
            if event.name.endswith("/probe_accuracy"):  # a checkpoint was just probed
                self.probe.load(self.run_id)
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
            self.log.moveCursor(QTextCursor.MoveOperation.End)

    def _log(self, line: str) -> None:
        self.log.appendPlainText(line)

    # -- plots ---------------------------------------------------------------------------
    def _apply_plot_theme(self) -> None:
        style_plots(*self.plots.values())

    def retheme(self) -> None:
        self._apply_plot_theme()
        self._dirty = True

    def _replot(self) -> None:
        self._dirty = True

    def _pick_step(self, step: int | None) -> None:
        self.picked_step = step
        self._dirty = True

    def _curve(self, key: str, ys: list[float]) -> tuple[list[float], list[float], int]:
        """(raw, shaped, clipped count) of one series as the cockpit controls say; the
        machine-load plot is drawn raw (its values are bounded)."""
        if key in ("system", "lr"):  # bounded or scheduled values: drawn as they are
            return ys, ys, 0
        clipped = 0
        if self.curve_controls.clip.isChecked():
            ys, clipped = curves.clip_outliers(ys)
        if self.curve_controls.log_scale.isChecked():
            ys = [y if y > 0 else float("nan") for y in ys]
        weight = self.curve_controls.smoothing.value()
        shaped = curves.smooth([y for y in ys if y == y], weight) if weight else ys
        if len(shaped) != len(ys):  # NaNs (non-positive on a log axis) are left out
            return ys, ys, clipped
        return ys, shaped, clipped

    def _redraw(self) -> None:
        if not self._dirty:
            return
        self._dirty = False
        log_y = self.curve_controls.log_scale.isChecked()
        for key, plot in self.plots.items():
            plot.clear()
            plot.setLogMode(x=False, y=log_y and key != "system")
            if self._log_ticks and not log_y:  # back from a log axis: pyqtgraph's own ticks
                plot.getAxis("left").setTicks(None)
            plot.enableAutoRange()
            if self.picked_step is not None:
                plot.addItem(pg.InfiniteLine(self.picked_step, angle=90,
                                             pen=pg.mkPen(colours().wrong, width=1,
                                                          style=Qt.PenStyle.DashLine)))
        drawn: dict[str, list[str]] = {k: [] for k in self.plots}
        for name, points in sorted(self.series.items(), key=lambda kv: _natural(kv[0])):
            key = _plot_for(name)
            if len(points) < 2 or key is None:
                continue
            colour = PLOT_COLOURS[len(drawn[key]) % len(PLOT_COLOURS)]
            xs, ys = zip(*points, strict=True)
            raw, shaped, clipped = self._curve(key, list(ys))
            if shaped is not raw:
                faint = pg.mkColor(colour)
                faint.setAlpha(60)
                self.plots[key].plot(list(xs), raw, pen=pg.mkPen(faint, width=1))
            self.plots[key].plot(list(xs), shaped, pen=pg.mkPen(colour, width=2))
            note = f" ({clipped} clipped)" if clipped else ""
            drawn[key].append(f"<span style='color:{colour}'>━━</span> {name}{note}")
        self._log_ticks = log_y
        if log_y:
            for key, plot in self.plots.items():
                if key != "system":
                    _log_ticks(plot)
        for key, names in drawn.items():
            # the legend is a label under the plot, so it never covers a line
            self.legends[key].setText(" &nbsp; ".join(names))
            self.plot_boxes[key].setVisible(bool(names))
        self._fill_metrics()

    def _fill_metrics(self) -> None:
        values = metric_table.values((name, value) for name, points in self.series.items()
                                     for _, value in points)
        rows = metric_table.rows(values)
        self.metrics.clear()
        bold = self.metrics.font()
        bold.setBold(True)
        for group in metric_table.GROUPS:
            members = [r for r in rows if r.group == group]
            if not members:
                continue
            head = QTreeWidgetItem([group])
            head.setFont(0, bold)
            self.metrics.addTopLevelItem(head)
            head.setFirstColumnSpanned(True)  # only takes effect once the item is in the tree
            for r in members:
                item = QTreeWidgetItem(["   " + r.name, metric_table.fmt(r.value), r.ci,
                                        "" if r.n is None else str(r.n)])
                item.setTextAlignment(1, Qt.AlignmentFlag.AlignRight)
                self.metrics.addTopLevelItem(item)
        for col in range(4):
            self.metrics.resizeColumnToContents(col)

    def metric_rows(self) -> list[tuple[str, ...]]:
        """What the metrics table shows, row by row (group rows have one cell)."""
        out = []
        for i in range(self.metrics.topLevelItemCount()):
            item = self.metrics.topLevelItem(i)
            cells = tuple(item.text(c).strip() for c in range(4))
            out.append(cells[:1] if item.isFirstColumnSpanned() else cells)
        return out


def _log_ticks(plot: pg.PlotWidget) -> None:
    """Ticks at 1, 2 and 5 times each power of ten on a log axis: within one decade
    pyqtgraph labels every minor tick (0.02, 0.03, ...), and those labels overlap."""
    ys = [math.log10(float(y)) for item in plot.getPlotItem().listDataItems()
          for y in (item.yData if item.yData is not None else []) if y > 0]
    if not ys:
        return
    low, high = min(ys), max(ys)  # the axis is in log10 units
    ticks = [(math.log10(m * 10.0 ** e), f"{m * 10.0 ** e:g}")
             for e in range(math.floor(low) - 1, math.ceil(high) + 1) for m in (1, 2, 5)
             if low - 0.05 <= math.log10(m * 10.0 ** e) <= high + 0.05]
    plot.getAxis("left").setTicks([ticks, []])


# engine.sysstats' names; RAM in percent shares the 0-100 axis with CPU and GPU utilisation
SYSTEM = ("cpu_percent", "ram_percent", "gpu_util_percent", "gpu_mem_percent")


def _plot_for(name: str) -> str | None:
    """Which live plot a metric series belongs to, by its last name part (train/lr -> lr);
    None for diagnostics, curves and costs, which the metrics table shows."""
    last = name.rsplit("/", 1)[-1]
    if last in SYSTEM:
        return "system"
    if last.endswith("loss"):
        return "loss"
    if last in ("lr", "learning_rate"):
        return "lr"
    if last in ("eta_s", "tokens_per_s", "grad_norm", "ram_used_gb", "gpu_mem_gb") or \
            name.startswith(("curve/", "grid/", "cost/")):
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
