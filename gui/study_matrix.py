"""The per-item win/loss matrix of two arms of a study: a row per item (its question in
the first column), a column per seed.

A cell is one (seed, item) that both arms evaluated: green when arm B scored higher, red
when lower, grey when tied, empty when the item was not in that seed's evaluation split.
The model is lazy (Qt asks only for the cells it shows), so 500 items x 5 seeds open at
once. Double-click or Enter on a cell asks for the two traces of that item side by side.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor

from engine.studies.analysis import MatrixRow
from gui.theme import colours

AnyIndex = QModelIndex | QPersistentModelIndex
MARKS = {"win": "▲", "loss": "▼", "tie": "="}


class WinLossModel(QAbstractTableModel):
    def __init__(self) -> None:
        super().__init__()
        self.seeds: list[int] = []
        self.rows: list[tuple[str, dict[int, MatrixRow]]] = []  # (label, seed -> cell)
        self.a = self.b = ""

    def set_rows(self, rows: list[MatrixRow], a: str, b: str) -> None:
        self.beginResetModel()
        self.a, self.b = a, b
        self.seeds = sorted({r.seed for r in rows})
        by_item: dict[str, tuple[str, dict[int, MatrixRow]]] = {}
        for r in rows:
            by_item.setdefault(r.item_hash, (r.label, {}))[1][r.seed] = r
        # items where the arms differ somewhere come first, then the others, in item order
        self.rows = sorted(by_item.values(), key=lambda e: (
            all(c.outcome == "tie" for c in e[1].values()), min(c.item_id for c in e[1].values())))
        self.endResetModel()

    def cell(self, index: AnyIndex) -> MatrixRow | None:
        """The (seed, item) at a cell; None for the label column and empty cells."""
        if not index.isValid() or index.row() >= len(self.rows) or index.column() == 0:
            return None
        return self.rows[index.row()][1].get(self.seeds[index.column() - 1])

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() or not self.seeds else len(self.seeds) + 1

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return "item" if section == 0 else f"seed {self.seeds[section - 1]}"
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if index.isValid() and index.column() == 0 and index.row() < len(self.rows):
            if role in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole):
                return self.rows[index.row()][0]
            return None
        cell = self.cell(index)
        if cell is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{MARKS[cell.outcome]} {cell.a:.2g} → {cell.b:.2g}"
        if role == Qt.ItemDataRole.BackgroundRole:
            c = colours()
            colour = QColor({"win": c.correct, "loss": c.wrong}.get(cell.outcome, c.unknown))
            colour.setAlphaF(0.3 if cell.outcome != "tie" else 0.12)
            return colour
        if role == Qt.ItemDataRole.ToolTipRole:
            return (f"item {cell.item_id}, seed {cell.seed}: {self.a} {cell.a:.3g}, "
                    f"{self.b} {cell.b:.3g}\nDouble-click: both traces side by side")
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return Qt.AlignmentFlag.AlignCenter
        return None
