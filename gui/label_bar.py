"""The labelling strip under the Traces comparison: what step is selected and what the
teacher and people said of it, a note and an optional correct step to store with a mark,
buttons for correct / wrong / unsure (keys 1/2/3 in the comparison), *Next to label*
(F9: the next wrong-answer trace nobody labelled), the count of what is labelled, and
*Export labels* (engine.label_export). It only shows and forwards: TracesView stores.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from engine.browse import Cell
from engine.labels import LabelCounts


class LabelBar(QWidget):
    label_clicked = Signal(str)  # correct / wrong / unsure
    next_clicked = Signal()
    export_clicked = Signal()

    def __init__(self) -> None:
        super().__init__()
        self.info = QLabel("Select a step (click its badge, or arrow keys in the comparison).")
        self.info.setWordWrap(True)
        self.note = QLineEdit()
        self.note.setPlaceholderText("Note (stored with the next mark)")
        self.correction = QLineEdit()
        self.correction.setPlaceholderText("Correct step instead (optional: the DPO 'chosen')")
        self.correction.setToolTip("For a step you mark wrong: the step that should have come "
                                   "there. Without it, the label export takes the aligned step "
                                   "of a sound teacher trace of the same item.")
        self.buttons: dict[str, QPushButton] = {}
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        for key, (label, text) in enumerate((("correct", "✓ Correct"), ("wrong", "✗ Wrong"),
                                             ("unsure", "? Unsure")), start=1):
            button = QPushButton(f"{text} ({key})")
            button.setToolTip(f"Mark the selected step {label} (key {key} in the comparison)")
            button.clicked.connect(lambda _=False, name=label: self.label_clicked.emit(name))
            self.buttons[label] = button
            row.addWidget(button)
        row.addWidget(self.note, 2)
        row.addWidget(self.correction, 3)
        self.next_button = QPushButton("Next to label (F9)")
        self.next_button.setToolTip("The next wrong-answer trace (its verdict is wrong or an "
                                    "evaluation failed) with no step labelled yet")
        self.next_button.clicked.connect(self.next_clicked)
        self.export_button = QPushButton("Export labels…")
        self.export_button.setToolTip("Write the run's PRM800K-style step labels, DPO pairs at "
                                      "the first wrong step and SFT rows of all-correct chains "
                                      "as JSONL beside the project")
        self.export_button.clicked.connect(self.export_clicked)
        row.addWidget(self.next_button)
        row.addWidget(self.export_button)
        self.count = QLabel()
        self.count.setObjectName("muted")
        self.count.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 2)
        layout.addWidget(self.info)
        layout.addLayout(row)
        layout.addWidget(self.count)
        self.show_cell(None, None)

    def show_cell(self, cell: Cell | None, where: str | None) -> None:
        """Describe the selected step (``where``: trace and role) or say there is none."""
        for button in self.buttons.values():
            button.setEnabled(cell is not None and cell.step_id is not None)
        if cell is None:
            self.info.setText("Select a step (click its badge, or arrow keys in the comparison).")
            return
        if cell.step_id is None:
            self.info.setText(f"{where}: this trace was stored without steps; it cannot be "
                              "labelled.")
            return
        mark = cell.label
        human = (f"<b>{mark.label}</b> by {mark.author.removeprefix('human:')} at "
                 f"{mark.created_at[:16].replace('T', ' ')}"
                 + (f" — “{mark.note}”" if mark.note else "") if mark else "not labelled")
        clash = " · <b>disagrees with the teacher</b>" if cell.disagrees else ""
        self.info.setText(f"<b>Step {cell.index + 1}</b> of {where} · teacher's verdict: "
                          f"<b>{cell.verdict}</b> · label: {human}{clash}")

    def show_counts(self, c: LabelCounts, scope: str) -> None:
        marks = " ".join(f"{name} {c.by_label.get(name, 0)}"
                         for name in ("correct", "wrong", "unsure"))
        self.count.setText(f"{scope}: {c.steps} steps labelled in {c.traces} traces ({marks}) · "
                           f"{c.disagreements} disagree with the teacher · {c.queue} "
                           "wrong-answer traces left to label")
