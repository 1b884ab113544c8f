"""The data-set part of Setup: file or hub source, field mapping with a preview of the
first rows (engine.data.read_records), split settings, and the chat-template preview of
one training example (trained vs masked tokens) through ``gui.hooks``.
"""

from __future__ import annotations

import html
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from engine.data import read_records, resolve_path
from engine.errors import DistillabError
from engine.recipes import DatasetSpec, Problem
from gui import hooks
from gui.forms import ModelForm
from gui.theme import colours

PREVIEW_ROWS = 5
DEFAULT_FIELDS = ("question", "solution", "answer")


class DataPanel(QGroupBox):
    def __init__(self) -> None:
        super().__init__("Data set")
        self.base_dir: Path | None = None
        self.columns: list[str] = []
        self.records: list[dict[str, Any]] = []
        self.student_model: Callable[[], str] = lambda: "embedded"
        outer = QVBoxLayout(self)
        form = QFormLayout()
        self.source = QComboBox()
        self.source.addItems(["File", "Hugging Face hub"])
        self.path = QLineEdit()
        self.path.setToolTip(DatasetSpec.model_fields["path"].description or "")
        self.path.setPlaceholderText("data.jsonl, .json, .csv or .parquet")
        self.browse = QPushButton("File…")
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(self.browse)
        self.hub = QLineEdit()
        self.hub.setToolTip(DatasetSpec.model_fields["hub"].description or "")
        self.hub.setPlaceholderText("e.g. openai/gsm8k")
        form.addRow("source", self.source)
        form.addRow("file", row)
        form.addRow("hub name", self.hub)
        outer.addLayout(form)

        mapping_row = QHBoxLayout()
        left = QVBoxLayout()
        left.addWidget(QLabel("Field mapping (paradigm field ← column)"))
        self.mapping = QTableWidget(0, 2)
        self.mapping.setHorizontalHeaderLabels(["field", "column"])
        self.mapping.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.mapping.verticalHeader().setVisible(False)
        self.mapping.setToolTip(DatasetSpec.model_fields["fields"].description or "")
        self.mapping.setMinimumHeight(120)
        left.addWidget(self.mapping)
        buttons = QHBoxLayout()
        self.add_field = QPushButton("Add field")
        self.remove_field = QPushButton("Remove")
        buttons.addWidget(self.add_field)
        buttons.addWidget(self.remove_field)
        buttons.addStretch(1)
        left.addLayout(buttons)
        mapping_row.addLayout(left, 1)
        self.more = ModelForm(DatasetSpec, "dataset", "Split and reading",
                              skip=("path", "hub", "fields"))
        mapping_row.addWidget(self.more, 1)
        outer.addLayout(mapping_row)

        self.preview_label = QLabel("Preview: choose a file.")
        self.preview_label.setObjectName("muted")
        outer.addWidget(self.preview_label)
        self.preview = QTableWidget(0, 0)
        self.preview.setMinimumHeight(150)
        self.preview.verticalHeader().setDefaultSectionSize(22)
        outer.addWidget(self.preview)
        template_row = QHBoxLayout()
        self.template_button = QPushButton("Preview chat template")
        self.template_button.setToolTip("Render the first row as one training example with the "
                                        "student's chat template: trained tokens vs masked ones.")
        template_row.addWidget(self.template_button)
        template_row.addStretch(1)
        outer.addLayout(template_row)
        self.template = QTextBrowser()
        self.template.setMaximumHeight(110)
        self.template.setPlaceholderText("The chat-template preview appears here.")
        outer.addWidget(self.template)

        self.custom: dict[str, QWidget] = {"dataset": self, "dataset.path": self.path,
                                           "dataset.hub": self.hub,
                                           "dataset.fields": self.mapping}
        self.source.currentIndexChanged.connect(self._source_changed)
        self.browse.clicked.connect(self._pick_file)
        self.path.editingFinished.connect(self.load_preview)
        self.add_field.clicked.connect(lambda: self.add_mapping("", ""))
        self.remove_field.clicked.connect(self._remove_mapping)
        self.template_button.clicked.connect(self.show_template)
        self._source_changed(0)

    # -- widgets ----------------------------------------------------------------------
    def _source_changed(self, index: int) -> None:
        self.path.setEnabled(index == 0)
        self.browse.setEnabled(index == 0)
        self.hub.setEnabled(index == 1)

    def _pick_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Data file", str(self.base_dir or ""),
            "Data (*.jsonl *.jsonl.gz *.json *.csv *.parquet)")
        if path:
            self.path.setText(path)
            self.load_preview()

    def add_mapping(self, field: str, column: str) -> None:
        row = self.mapping.rowCount()
        self.mapping.insertRow(row)
        self.mapping.setItem(row, 0, QTableWidgetItem(field))
        combo = QComboBox()
        combo.setEditable(True)
        combo.addItems(self.columns)
        combo.setCurrentText(column)
        self.mapping.setCellWidget(row, 1, combo)

    def _remove_mapping(self) -> None:
        row = self.mapping.currentRow()
        if row >= 0:
            self.mapping.removeRow(row)

    def mapping_values(self) -> dict[str, str]:
        out = {}
        for row in range(self.mapping.rowCount()):
            item = self.mapping.item(row, 0)
            combo = self.mapping.cellWidget(row, 1)
            field = item.text().strip() if item else ""
            column = combo.currentText().strip() if isinstance(combo, QComboBox) else ""
            if field and column:
                out[field] = column
        return out

    # -- data ----------------------------------------------------------------------------
    def resolved(self) -> Path | None:
        text = self.path.text().strip()
        return resolve_path(text, self.base_dir or Path.cwd()) if text else None

    def load_preview(self) -> None:
        """Read the file and show its first rows; offer its columns in the mapping."""
        path = self.resolved()
        if path is None or self.source.currentIndex() != 0:
            return
        try:
            self.records = read_records(path, self.more.values().get("records_key"))
        except DistillabError as exc:
            self.records = []
            self.preview_label.setText(f"✗ {exc.message} — {exc.hint}")
            self.preview.setRowCount(0)
            return
        self.columns = sorted({k for r in self.records[:50] for k in r})
        rows = self.records[:PREVIEW_ROWS]
        self.preview.setColumnCount(len(self.columns))
        self.preview.setHorizontalHeaderLabels(self.columns)
        self.preview.setRowCount(len(rows))
        for i, record in enumerate(rows):
            for j, col in enumerate(self.columns):
                text = " ".join(str(record.get(col, "")).split())
                cell = QTableWidgetItem(text[:200])
                cell.setToolTip(str(record.get(col, ""))[:2000])
                self.preview.setItem(i, j, cell)
        self.preview.resizeColumnsToContents()
        for j in range(len(self.columns)):
            self.preview.setColumnWidth(j, min(self.preview.columnWidth(j), 320))
        self.preview_label.setText(f"Preview: first {len(rows)} of {len(self.records)} records "
                                   f"in {path.name}")
        current = self.mapping_values()
        self.mapping.setRowCount(0)
        if not current:
            current = {f: f for f in DEFAULT_FIELDS if f in self.columns}
        for field, column in current.items():
            self.add_mapping(field, column)

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.source.currentIndex() == 0:
            out["path"] = self.path.text().strip() or None
        else:
            out["hub"] = self.hub.text().strip() or None
        out = {k: v for k, v in out.items() if v is not None}
        fields = self.mapping_values()
        if fields:
            out["fields"] = fields
        out.update(self.more.values())
        return out

    def set_values(self, data: dict[str, Any]) -> None:
        self.source.setCurrentIndex(1 if data.get("hub") else 0)
        self.path.setText(str(data.get("path") or ""))
        self.hub.setText(str(data.get("hub") or ""))
        self.more.set_values(data)
        self.mapping.setRowCount(0)
        fields = data.get("fields") or {}
        if isinstance(fields, dict):
            for field, column in fields.items():
                self.add_mapping(str(field), str(column))
        self.load_preview()

    def rebase(self, new_dir: Path) -> None:
        """Keep a relative data path pointing at the same file when the recipe moves."""
        path = self.resolved()
        text = self.path.text().strip()
        if path is None or Path(text).is_absolute() or "${" in text:
            self.base_dir = new_dir
            return
        self.path.setText(os.path.relpath(path, new_dir))
        self.base_dir = new_dir

    def check(self, base_dir: Path | None) -> list[Problem]:
        """Data problems validation cannot see: a missing file, mapped columns not in it."""
        if self.source.currentIndex() != 0 or not self.path.text().strip():
            return []
        self.base_dir = base_dir or self.base_dir
        self.load_preview()
        path = self.resolved()
        if not self.records:
            return [Problem("<setup>", None, "dataset.path", f"cannot read {path}",
                            self.preview_label.text().removeprefix("✗ "))]
        missing = {f: c for f, c in self.mapping_values().items()
                   if c.split(".")[0] not in self.columns}
        return [Problem("<setup>", None, "dataset.fields", f"column {c!r} (for {f!r}) is not in "
                        "the file", f"columns present: {', '.join(self.columns)}")
                for f, c in missing.items()]

    def show_template(self) -> None:
        if not self.records:
            self.load_preview()
        if not self.records:
            self.template.setPlainText("Choose a data file first.")
            return
        fields = self.mapping_values()
        record = self.records[0]
        prompt = str(record.get(fields.get("question", "question"), ""))
        answer = str(record.get(fields.get("solution", "solution"), ""))
        result = hooks.template_preview(self.student_model(),
                                        [{"role": "user", "content": prompt},
                                         {"role": "assistant", "content": answer}])
        if not result.ok:
            self.template.setPlainText(result.text)
            return
        c = colours()
        parts = []
        for text, trained in result.value:
            style = f"background:{c.insert}" if trained else f"color:{c.muted}"
            parts.append(f"<span style='{style}'>{html.escape(text)}</span>")
        self.template.setHtml("<pre style='white-space:pre-wrap'>" + "".join(parts) + "</pre>"
                              "<p>highlighted: trained tokens · grey: masked</p>")


if __name__ == "__main__":
    from PySide6.QtWidgets import QApplication

    from engine.paths import ASSETS_DIR

    app = QApplication(sys.argv)
    panel = DataPanel()
    panel.set_values({"path": str(ASSETS_DIR / "demo" / "math.jsonl")})
    panel.resize(900, 700)
    panel.show()
    sys.exit(app.exec())
