"""SuperCorrect's views: thought templates as collapsible blocks, step k compared, the pairs table.

- ``TemplateView``: a template's steps, their <Key> notes, the <Generalized> summary and the
  <Answer> as blocks that fold open and shut (a template that does not parse shows why);
- ``StepKView``: one preference pair: the shared prefix (problem + steps 1..k-1) once, then
  the student's original step k, the teacher's cause and correction, and the student's own
  side (its self-correction, or its original step) next to each other;
- ``PairsView`` (the "Pairs" page): a run's pairs as a table (prompt, chosen, rejected);
  the selected pair in a ``StepKView``; "Open source traces" asks the window to lay the
  student's solution and both sides' traces side by side in Traces (``item_requested``).

Reads the store only; no model library. Preview: ``python -m gui.supercorrect_view DB``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.paradigms.supercorrect import formats as F
from engine.store import Store, traces
from gui.run_picker import RunPicker

COLUMNS = ("pair", "item", "k", "prompt (problem + steps 1..k-1)", "chosen", "rejected")
RUNS = ("SELECT r.id, r.name, COUNT(p.id) FROM runs r JOIN pairs p ON p.run_id = r.id "
        "GROUP BY r.id ORDER BY r.id DESC")


class Block(QWidget):
    """A titled block whose body folds open and shut."""

    def __init__(self, title: str, body: str | QWidget, kind: str, expanded: bool = True) -> None:
        super().__init__()
        self.button = QToolButton(text=title, checkable=True, checked=expanded)
        self.button.setObjectName(f"block-{kind}")
        self.button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.button.setStyleSheet("QToolButton { border: none; font-weight: bold; }")
        self.body = body if isinstance(body, QWidget) else _label(body)
        self.kind = kind
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12 if kind == "key" else 0, 2, 0, 2)
        layout.addWidget(self.button)
        layout.addWidget(self.body)
        self.button.toggled.connect(self._fold)
        self._fold(expanded)

    def _fold(self, open_: bool) -> None:
        self.button.setArrowType(Qt.ArrowType.DownArrow if open_ else Qt.ArrowType.RightArrow)
        self.body.setVisible(open_)


def _label(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setTextFormat(Qt.TextFormat.PlainText)
    return label


def template_blocks(text: str) -> tuple[list[tuple[str, str, str, list[str]]], str]:
    """(kind, title, text, keys) per block of a template, and the reason it is flagged ('')."""
    t = F.parse_template(text)
    blocks = [("step", f"Step {s.number}", F.strip_keys(s.text), s.keys) for s in t.steps]
    if t.generalized is not None:
        blocks.append(("generalized", "Generalized", t.generalized, []))
    if t.answer is not None:
        blocks.append(("answer", "Answer", t.answer, []))
    return blocks, t.reason


class TemplateView(QWidget):
    """A template as collapsible step / key / generalized / answer blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.box = QVBoxLayout(self)
        self.box.setContentsMargins(0, 0, 0, 0)
        self.blocks: list[Block] = []

    def set_text(self, text: str, expanded: bool = True, partial: bool = False) -> None:
        """Show ``text``; ``partial``: the first steps of a solution (no answer expected)."""
        while self.box.count():
            item = self.box.takeAt(0)
            if item is not None and item.widget() is not None:
                item.widget().deleteLater()  # type: ignore[union-attr]
        self.blocks = []
        found, reason = template_blocks(text)
        if reason and not found:
            self.box.addWidget(_label(f"Not a template ({reason}):\n{text}"))
            return
        if reason and not partial:
            self.box.addWidget(_label(f"Flagged: {reason}"))
        for kind, title, body, keys in found:
            inner = QWidget()
            column = QVBoxLayout(inner)
            column.setContentsMargins(0, 0, 0, 0)
            column.addWidget(_label(body))
            key_blocks = [Block("Key", key, "key", expanded=False) for key in keys]
            for key_block in key_blocks:
                column.addWidget(key_block)
            block = Block(title, inner, kind, expanded=expanded or kind == "answer")
            self.blocks += [block, *key_blocks]
            self.box.addWidget(block)


def _side(title: str, blocks: list[tuple[str, str]]) -> QWidget:
    panel = QWidget()
    column = QVBoxLayout(panel)
    head = QLabel(f"<b>{title}</b>")
    column.addWidget(head)
    for name, text in blocks:
        column.addWidget(Block(name, text or "(none)", name.lower()))
    column.addStretch(1)
    return panel


def _parts(text: str) -> list[tuple[str, str]]:
    cause, correction = F.read_self_correction(text)
    if cause is None and correction is None:  # an original step, not a correction
        body = F.parse_template(text).steps
        return [("Step", F.strip_keys(body[0].text) if body else text)]
    return [(n, t) for n, t in (("Cause", cause), ("Correction", correction)) if t is not None]


class StepKView(QWidget):
    """One pair: the shared prefix once, then step k from each side next to each other."""

    def __init__(self) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        self.title = QLabel()
        self.prefix = TemplateView()
        self.problem = _label("")
        shared = QWidget()
        shared_box = QVBoxLayout(shared)
        shared_box.setContentsMargins(0, 0, 0, 0)
        shared_box.addWidget(self.problem)
        shared_box.addWidget(self.prefix)
        self.shared = Block("Shared prefix: the problem and the student's steps 1..k-1",
                            shared, "prefix")
        self.sides = QHBoxLayout()
        layout.addWidget(self.title)
        layout.addWidget(self.shared)
        layout.addLayout(self.sides, 1)

    def set_pair(self, *, k: int, problem: str, prefix: str, original: str | None,
                 chosen: str, rejected: str, rejected_kind: str) -> None:
        self.title.setText(f"<b>First wrong step: Step {k}</b>")
        self.problem.setText(problem)
        self.prefix.set_text(prefix, partial=True)
        self.prefix.setVisible(bool(prefix))
        while self.sides.count():
            item = self.sides.takeAt(0)
            if item is not None and item.widget() is not None:
                item.widget().deleteLater()  # type: ignore[union-attr]
        panels = [("Student's step k (as solved)", [("Step", original or "(the solution "
                                                     "stops before this step)")]),
                  ("Teacher: cause and correction (chosen)", _parts(chosen)),
                  ("Student's own side (rejected: "
                   f"{'its self-correction' if rejected_kind == 'self_correction' else 'its original step'})",
                   _parts(rejected))]
        for title, blocks in panels:
            self.sides.addWidget(_side(title, blocks), 1)


def read_pairs(store: Store, run_id: int) -> list[dict[str, Any]]:
    rows = store.query("SELECT * FROM pairs WHERE run_id = ? ORDER BY id", (run_id,))
    return [{**dict(r), "meta": json.loads(r["meta"]) if r["meta"] else {}} for r in rows]


class PairsView(QWidget):
    """A run's preference pairs: the table, the selected pair's step k, a jump to its traces."""

    item_requested = Signal(int, list)  # item id, trace ids to lay side by side

    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.store = Store(db_path, readonly=True)
        self.pairs: list[dict[str, Any]] = []
        self.run_box = RunPicker(RUNS, ("pair", "pairs"), "Run (those that stored preference pairs)",
                                 "No run with preference pairs in this project")
        self.run_box.currentIndexChanged.connect(self._load)
        self.open_button = QPushButton("Open source traces")
        self.open_button.setToolTip("The student's solution, the teacher's correction and the "
                                    "student's side, step-aligned in Traces")
        self.open_button.clicked.connect(self._open)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.itemSelectionChanged.connect(self._selected)
        self.detail = StepKView()
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.detail)
        bar = QHBoxLayout()
        bar.addWidget(self.run_box, 1)
        bar.addWidget(self.open_button)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(scroll)
        split.setSizes([260, 520])
        layout = QVBoxLayout(self)
        layout.addLayout(bar)
        layout.addWidget(split, 1)
        self.reload()

    def reload(self, prefer: int | None = None) -> None:
        """List the runs again (``prefer``: the run to show if it has pairs)."""
        self.run_box.refill(self.store, prefer)
        self._load()

    def _load(self) -> None:
        run_id = self.run_box.run_id()
        self.pairs = read_pairs(self.store, run_id) if run_id is not None else []
        self.table.setRowCount(len(self.pairs))
        for row, p in enumerate(self.pairs):
            values = (p["id"], p["item_id"], p["meta"].get("k"), p["prompt"], p["chosen"],
                      p["rejected"])
            for col, value in enumerate(values):
                cell = QTableWidgetItem(" ".join(str(value).split())[:160])
                cell.setToolTip(str(value))
                self.table.setItem(row, col, cell)
        self.table.resizeColumnsToContents()
        for col in (3, 4, 5):
            self.table.setColumnWidth(col, 320)
        if self.pairs:
            self.table.selectRow(0)

    def current(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows()
        return self.pairs[rows[0].row()] if rows else None

    def _selected(self) -> None:
        pair = self.current()
        if pair is None:
            return
        meta = pair["meta"]
        student = traces.get_trace(self.store, int(meta["student_trace"]))
        steps = F.parse_template(student.output or "").steps
        k = int(meta["k"])
        original = F.strip_keys(steps[k - 1].text) if k <= len(steps) else None
        problem = str((meta.get("messages") or [{}])[-1].get("content", ""))
        self.detail.set_pair(k=k, problem=problem.rsplit("Question:", 1)[-1].strip(),
                             prefix=meta.get("prefix", ""), original=original,
                             chosen=pair["chosen"], rejected=pair["rejected"],
                             rejected_kind=str(meta.get("rejected", "self_correction")))

    def _open(self) -> None:
        pair = self.current()
        if pair is None or pair["item_id"] is None:
            return
        ids = [int(pair["meta"]["student_trace"]), pair["chosen_trace_id"],
               pair["rejected_trace_id"]]
        self.item_requested.emit(int(pair["item_id"]),
                                 list(dict.fromkeys(int(i) for i in ids if i is not None)))

    def closeEvent(self, event: Any) -> None:
        self.store.close()
        super().closeEvent(event)


if __name__ == "__main__":
    app = QApplication(sys.argv)
    view = PairsView(Path(sys.argv[1]))
    view.resize(1300, 850)
    view.show()
    sys.exit(app.exec())
