"""The teacher's server pool and batch mode on the Setup page: a table of endpoints
(base URL, model, weight, key env var; rows added and removed) and a batch checkbox.

It reads and writes the recipe's ``teacher.endpoints`` / ``teacher.batch`` as plain data
and knows nothing of validation: the Setup view validates the whole recipe with the CLI's
``parse_recipe`` and marks problems at the cells ``widget_at`` names (e.g.
``teacher.endpoints.1.base_url``). Values that do not parse are passed on as typed, so
validation reports them at their cell.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from engine.recipes import EndpointSpec, TeacherSpec

# (recipe key, column title, placeholder)
COLUMNS = (("base_url", "base URL", "http://gpu1:8000/v1"),
           ("model", "model", "teacher's model"),
           ("weight", "weight", "1.0"),
           ("api_key_env", "key env var", "teacher's key"))
BATCH_TIP = ("Half price, slower: stages with many independent teacher calls are sent as "
             "one OpenAI Batch job, answered within the batch window (often hours, up to "
             "24h) instead of seconds. Needs one OpenAI endpoint (no pool). "
             + (TeacherSpec.model_fields["batch"].description or ""))


class EndpointsEditor(QGroupBox):
    """``teacher.endpoints`` as a table and ``teacher.batch`` as a checkbox."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Server pool and batch mode", parent)
        self.setToolTip(TeacherSpec.model_fields["endpoints"].description or "")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("teacher.endpoints")
        self.table.setHorizontalHeaderLabels([title for _, title, _ in COLUMNS])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setToolTip(self.toolTip())
        self.table.setProperty("help", self.toolTip())
        self.add_button = QPushButton("Add server")
        self.remove_button = QPushButton("Remove selected")
        self.batch = QCheckBox("Batch mode (half price, slower)")
        self.batch.setObjectName("teacher.batch")
        self.batch.setToolTip(BATCH_TIP)
        self.batch.setProperty("help", BATCH_TIP)
        buttons = QHBoxLayout()
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        buttons.addWidget(self.batch)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        self.add_button.clicked.connect(lambda: self.add_row())
        self.remove_button.clicked.connect(self.remove_selected)
        self.batch.toggled.connect(lambda _: self.changed.emit())
        self._fit()

    # -- rows ----------------------------------------------------------------------------
    def add_row(self, values: dict[str, Any] | None = None) -> int:
        """Append a row (filled from an endpoint mapping); returns its index."""
        row = self.table.rowCount()
        self.table.insertRow(row)
        for column, (key, _, placeholder) in enumerate(COLUMNS):
            edit = QLineEdit()
            edit.setFrame(False)
            edit.setPlaceholderText(placeholder)
            help_text = EndpointSpec.model_fields[key].description or ""
            edit.setToolTip(help_text)
            edit.setProperty("help", help_text)
            value = (values or {}).get(key)
            edit.setText("" if value is None else str(value))
            edit.textChanged.connect(lambda _: self.changed.emit())
            self.table.setCellWidget(row, column, edit)
        self._fit()
        self.changed.emit()
        return row

    def remove_selected(self) -> None:
        rows = sorted({i.row() for i in self.table.selectedIndexes()}, reverse=True)
        if not rows and self.table.rowCount():
            rows = [self.table.rowCount() - 1]
        for row in rows:
            self.table.removeRow(row)
        self._fit()
        self.changed.emit()

    def cell(self, row: int, key: str) -> QLineEdit:
        column = [k for k, _, _ in COLUMNS].index(key)
        widget = self.table.cellWidget(row, column)
        assert isinstance(widget, QLineEdit)
        return widget

    def _fit(self) -> None:
        """Tall enough for its rows (2 to 6 visible), so the page scrolls, not the table."""
        rows = min(max(self.table.rowCount(), 2), 6)
        height = self.table.horizontalHeader().sizeHint().height() + 4
        height += sum(self.table.rowHeight(r) for r in range(min(rows, self.table.rowCount())))
        height += 30 * max(0, rows - self.table.rowCount())
        self.table.setFixedHeight(height)

    # -- recipe data ---------------------------------------------------------------------
    def endpoints(self) -> list[dict[str, Any]]:
        """The rows as ``teacher.endpoints`` entries (blank rows left out; a weight that
        is no number passed on as typed, for validation to report)."""
        out = []
        for row in range(self.table.rowCount()):
            texts = {key: self.cell(row, key).text().strip() for key, _, _ in COLUMNS}
            if not any(texts.values()):
                continue
            entry: dict[str, Any] = {"base_url": texts["base_url"]}
            if texts["model"]:
                entry["model"] = texts["model"]
            if texts["weight"]:
                try:
                    weight = float(texts["weight"])
                except ValueError:
                    entry["weight"] = texts["weight"]
                else:
                    if weight != 1.0:
                        entry["weight"] = weight
            if texts["api_key_env"]:
                entry["api_key_env"] = texts["api_key_env"]
            out.append(entry)
        return out

    def values(self) -> dict[str, Any]:
        """The teacher keys this editor sets: ``endpoints`` when it has rows, ``batch``
        when checked (defaults are left out, which keeps saved YAML short)."""
        out: dict[str, Any] = {}
        pool = self.endpoints()
        if pool:
            out["endpoints"] = pool
        if self.batch.isChecked():
            out["batch"] = True
        return out

    def set_values(self, teacher: dict[str, Any]) -> None:
        """Fill from a recipe's ``teacher`` mapping (rows of ``endpoints``, ``batch``)."""
        self.table.setRowCount(0)
        for entry in teacher.get("endpoints") or []:
            self.add_row(entry if isinstance(entry, dict) else {"base_url": entry})
        self.batch.setChecked(bool(teacher.get("batch", False)))
        self._fit()
        self.changed.emit()

    # -- problems ------------------------------------------------------------------------
    def widget_at(self, path: str) -> QWidget | None:
        """The widget of a problem's field: a cell (``teacher.endpoints.0.base_url``), the
        table (anything else under ``teacher.endpoints``) or the batch checkbox."""
        if path == "teacher.batch":
            return self.batch
        parts = path.split(".")
        if parts[:2] != ["teacher", "endpoints"]:
            return None
        if len(parts) >= 4 and parts[2].isdigit() and int(parts[2]) < self.table.rowCount() \
                and parts[3] in [k for k, _, _ in COLUMNS]:
            return self.cell(int(parts[2]), parts[3])
        return self.table

    def all_widgets(self) -> list[QWidget]:
        cells = [self.cell(r, k) for r in range(self.table.rowCount()) for k, _, _ in COLUMNS]
        return [self.table, self.batch, *cells]


if __name__ == "__main__":  # preview: python -m gui.endpoints_editor
    import sys

    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    editor = EndpointsEditor()
    editor.set_values({"endpoints": [{"base_url": "http://gpu1:8000/v1", "weight": 2},
                                     {"base_url": "http://gpu2:8000/v1", "model": "qwen-72b"}]})
    editor.resize(640, editor.sizeHint().height())
    editor.show()
    sys.exit(app.exec())
