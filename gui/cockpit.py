"""The training cockpit's widgets in the Run monitor: curve controls (smoothing, log scale,
outlier clip) and the probe timeline (engine.probe).

The timeline is a grid: a row per probe item, a column per saved checkpoint (0 = before
training). A cell shows the answer read from that checkpoint's probe trace, green when it
matches the reference, red when not; a cell where the answer changed from the previous
checkpoint is marked ⇄ and outlined. Clicking a column header picks that checkpoint: the
monitor marks it on the curves, and "Keep this checkpoint" makes its adapter the run's.
Knows the store only through engine.probe.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine import probe
from engine.store import Store, traces
from gui.theme import colours


class CurveControls(QWidget):
    """Smoothing weight, log scale and outlier clip for the monitor's curves."""

    changed = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.smoothing = QDoubleSpinBox()
        self.smoothing.setRange(0.0, 0.99)
        self.smoothing.setSingleStep(0.1)
        self.smoothing.setDecimals(2)
        self.smoothing.setValue(0.0)
        self.smoothing.setToolTip("Exponential smoothing weight (0 = raw points, 0.99 = very "
                                  "smooth); the raw curve stays drawn faintly behind.")
        self.log_scale = QCheckBox("log scale")
        self.log_scale.setToolTip("Logarithmic y axis for the loss, learning-rate and metric "
                                  "plots.")
        self.clip = QCheckBox("clip outliers")
        self.clip.setToolTip("Cut points outside the 5th-95th percentile band widened by half "
                             "its width (a loss spike no longer squashes the curve).")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Smoothing"))
        row.addWidget(self.smoothing)
        row.addWidget(self.log_scale)
        row.addWidget(self.clip)
        row.addStretch(1)
        self.smoothing.valueChanged.connect(self.changed)
        self.log_scale.toggled.connect(self.changed)
        self.clip.toggled.connect(self.changed)


class ProbeTimeline(QWidget):
    """Probe answers per item and checkpoint, and "Keep this checkpoint"."""

    checkpoint_picked = Signal(object)  # the step, or None when nothing is picked
    kept = Signal(int)  # the step whose adapter became the run's

    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.db_path = db_path
        self.run_id: int | None = None
        self.line: probe.Timeline | None = None
        self.picked: int | None = None
        self.title = QLabel("Probe set")
        self.title.setObjectName("muted")
        self.title.setWordWrap(True)
        self.grid = QTableWidget(0, 0)
        self.grid.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.grid.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectColumns)
        self.grid.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.grid.setMinimumHeight(150)
        # a picked column stays readable: a light tint over the verdict colours
        self.grid.setStyleSheet("QTableWidget { selection-background-color: "
                                "rgba(79, 123, 217, 70); selection-color: palette(text); }")
        self.keep_button = QPushButton("Keep this checkpoint")
        self.keep_button.setEnabled(False)
        self.keep_button.setToolTip("Make the picked checkpoint's adapter the run's adapter "
                                    "(what the playground and exports use).")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.answer = QPlainTextEdit()
        self.answer.setReadOnly(True)
        self.answer.setPlaceholderText("Click a cell to read that checkpoint's answer.")
        self.answer.setMaximumHeight(150)
        bar = QHBoxLayout()
        bar.addWidget(self.title, 1)
        bar.addWidget(self.keep_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        body = QHBoxLayout()
        body.addWidget(self.grid, 4)
        body.addWidget(self.answer, 1)
        layout.addLayout(body)
        self.grid.horizontalHeader().sectionClicked.connect(self._pick_column)
        self.grid.cellClicked.connect(self._cell_clicked)
        self.keep_button.clicked.connect(self.keep)
        self.hide()

    def load(self, run_id: int | None) -> None:
        """Show the run's probe grid; hidden when the run has none."""
        same_run = run_id == self.run_id
        self.run_id = run_id
        line = None
        if run_id is not None:
            with Store(self.db_path, readonly=True) as store:
                line = probe.timeline(store, run_id)
        self.line = line
        if line is None:
            self.hide()
            self._set_pick(None)
            return
        if not same_run:
            self.status.setText("")
            self._set_pick(None)
        self._fill(line)
        self.show()

    def _fill(self, line: probe.Timeline) -> None:
        c = colours()
        self.grid.clear()
        self.grid.setRowCount(len(line.cells))
        self.grid.setColumnCount(len(line.checkpoints))
        self.grid.setHorizontalHeaderLabels([f"step {s}" for s in line.checkpoints])
        self.grid.setVerticalHeaderLabels([f"#{i + 1} (ref {ref or '?'})"
                                           for i, ref in enumerate(line.references)])
        for r, row in enumerate(line.cells):
            for col, cell in enumerate(row):
                if cell is None:
                    continue
                text = (("⇄ " if cell.flipped else "") + (cell.answer or "—")
                        + f"  [{cell.steps}]")
                item = QTableWidgetItem(text)
                item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
                colour = {"passed": c.correct, "failed": c.wrong}.get(cell.verdict or "")
                if colour:
                    tint = QColor(colour)
                    tint.setAlpha(70)
                    item.setBackground(QBrush(tint))
                if cell.flipped:
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                item.setToolTip(
                    f"<b>{html.escape(line.prompts[r][:300])}</b><br>answer "
                    f"{html.escape(cell.answer or 'none')} · reference "
                    f"{html.escape(line.references[r] or 'none')} · {cell.steps} steps · "
                    f"{cell.verdict or 'unchecked'}"
                    + (" · changed since the previous checkpoint" if cell.flipped else ""))
                item.setData(Qt.ItemDataRole.UserRole, cell.trace_id)
                self.grid.setItem(r, col, item)
        self.grid.resizeColumnsToContents()
        # every probe row visible without scrolling, up to 8 (the default N is small)
        shown = min(len(line.cells), 8)
        self.grid.setMinimumHeight(shown * self.grid.verticalHeader().defaultSectionSize()
                                   + self.grid.horizontalHeader().sizeHint().height()
                                   + 2 * self.grid.frameWidth() + 18)
        flips = sum(1 for row in line.cells for cell in row if cell is not None and cell.flipped)
        right = [sum(1 for row in line.cells if row[i] is not None and
                     row[i].verdict == "passed") for i in range(len(line.checkpoints))]  # type: ignore[union-attr]
        self.title.setText(
            f"Probe set · {len(line.cells)} items × {len(line.checkpoints)} checkpoints "
            f"(cell: answer [steps]; ⇄ changed) "
            f"({line.stage}) · right per checkpoint: {' → '.join(map(str, right))} · "
            f"{flips} answer changes")
        if self.picked in line.checkpoints:
            self.grid.selectColumn(line.checkpoints.index(self.picked))

    def _cell_clicked(self, row: int, column: int) -> None:
        self._pick_column(column)
        item = self.grid.item(row, column)
        if item is None or self.line is None:
            return
        with Store(self.db_path, readonly=True) as store:
            trace = traces.get_trace(store, int(item.data(Qt.ItemDataRole.UserRole)))
        self.answer.setPlainText(
            f"#{row + 1} at step {self.line.checkpoints[column]} ({trace.model}, "
            f"{trace.verdict or 'unchecked'}):\n{trace.output or ''}")

    def _pick_column(self, column: int) -> None:
        if self.line is None or not 0 <= column < len(self.line.checkpoints):
            return
        self._set_pick(self.line.checkpoints[column])

    def _set_pick(self, step: int | None) -> None:
        self.picked = step
        folder = self.line.checkpoint_dirs.get(step) if self.line and step is not None else None
        self.keep_button.setEnabled(folder is not None)
        self.keep_button.setText(f"Keep checkpoint {step}" if folder else "Keep this checkpoint")
        if step is not None and folder is None:
            self.status.setText("step 0 is the model before training: no checkpoint to keep")
        self.checkpoint_picked.emit(step)

    def pick(self, step: int) -> None:
        """Pick a checkpoint as clicking its column does."""
        assert self.line is not None
        column = self.line.checkpoints.index(step)
        self.grid.selectColumn(column)
        self._pick_column(column)

    def keep(self) -> None:
        if self.line is None or self.picked is None or self.run_id is None:
            return
        folder = self.line.checkpoint_dirs.get(self.picked)
        if folder is None:
            return
        try:
            with Store(self.db_path) as store:
                probe.keep_checkpoint(store, self.run_id, folder, stage=self.line.stage,
                                      step=self.picked)
        except FileNotFoundError as exc:
            self.status.setText(f"✗ {exc}")
            return
        self.status.setText(f"✓ checkpoint {self.picked} is now this run's adapter ({folder})")
        self.kept.emit(self.picked)

    def cell_texts(self) -> list[list[str]]:
        """What the grid shows, row by row ('' where a checkpoint was not decoded)."""
        return [[(self.grid.item(r, c).text() if self.grid.item(r, c) else "")
                 for c in range(self.grid.columnCount())] for r in range(self.grid.rowCount())]
