"""The Traces query bar: a line for an ``engine.query`` filter, its error shown under it with
a caret at the position, and saved slices (named queries in the project database).

Enter applies the query; a query that does not compile leaves the table as it was and
shows why. The bar compiles only to check; TracesView passes the text on in its filter.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine import query as q
from engine.errors import DistillabError
from engine.store import Store
from gui.rich_text import MONO
from gui.theme import colours

EXAMPLE = 'verdict = wrong and steps > 5 and run in (3, 4) and text ~ "carry"'


class QueryBar(QWidget):
    applied = Signal(str)  # a query that compiled (or "" to clear)

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store  # writable: slices are saved here
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(f"Query, e.g. {EXAMPLE}   (Enter)")
        self.edit.setClearButtonEnabled(True)
        self.edit.setToolTip("Fields: " + "; ".join(f"{name}: {f.help}"
                                                    for name, f in q.FIELDS.items())
                             + ". Ops: = != < <= > >= ~ (contains) !~ in (...); and, or, not, "
                             "( ).")
        self.slice_box = QComboBox()
        self.slice_box.setToolTip("Saved slices (queries kept in the project)")
        self.slice_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.slice_box.setMinimumWidth(160)
        self.save_button = QPushButton("Save slice…")
        self.error = QLabel()
        self.error.setStyleSheet(f"color: {colours().wrong}; {MONO}")
        self.error.setTextFormat(Qt.TextFormat.PlainText)  # a query may hold '<'
        self.error.hide()
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, 1)
        row.addWidget(self.slice_box)
        row.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.error)
        self.edit.returnPressed.connect(self.apply)
        self.edit.textChanged.connect(lambda text: text or self.apply())
        self.slice_box.activated.connect(self._pick_slice)
        self.save_button.clicked.connect(self._ask_name)
        self.fill_slices()

    def check(self) -> bool:
        """Compile the text; show the error (with a caret) and return False if it fails."""
        text = self.edit.text().strip()
        try:
            if text:
                q.compile_query(text)
        except q.QueryError as exc:
            self.error.setText(exc.caret().replace(" ", "\u00a0"))
            self.error.show()
            self.edit.setCursorPosition(exc.pos)
            return False
        self.error.hide()
        return True

    def apply(self) -> None:
        if self.check():
            self.applied.emit(self.edit.text().strip())

    def fill_slices(self, current: str | None = None) -> None:
        self.slice_box.blockSignals(True)
        self.slice_box.clear()
        self.slice_box.addItem("saved slices", None)
        for name, text in q.slices(self.store):
            self.slice_box.addItem(name, text)
            self.slice_box.setItemData(self.slice_box.count() - 1, text,
                                       Qt.ItemDataRole.ToolTipRole)
        if current:
            self.slice_box.setCurrentIndex(max(0, self.slice_box.findText(current)))
        self.slice_box.blockSignals(False)

    def _pick_slice(self, index: int) -> None:
        text = self.slice_box.itemData(index)
        if text:
            self.edit.setText(str(text))
            self.apply()

    def _ask_name(self) -> None:
        if not self.check():
            return
        name, ok = QInputDialog.getText(self, "Save slice", "Name of this query:")
        if ok:
            self.save_slice(name)

    def save_slice(self, name: str) -> bool:
        """Save the bar's query under ``name``; False (and the reason shown) if it cannot."""
        try:
            q.save_slice(self.store, name, self.edit.text())
        except DistillabError as exc:
            reason = exc.caret() if isinstance(exc, q.QueryError) else str(exc)
            self.error.setText(reason.replace(" ", "\u00a0"))
            self.error.show()
            return False
        self.fill_slices(current=name.strip())
        return True
