"""The student part of Setup: where the model comes from (the embedded default, a Hugging
Face id or a local folder), the remaining StudentSpec fields as a generated form, and the
memory estimate (engine.student.memory through ``gui.hooks``). The panel only reads and
writes the recipe's ``student`` mapping.
"""

from __future__ import annotations

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
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.recipes import StudentSpec
from gui import hooks
from gui.forms import ModelForm

STUDENT_SOURCES = ["Embedded default (SmolLM2-135M-Instruct)", "Hugging Face id", "Local folder"]


class StudentPanel(QGroupBox):
    def __init__(self) -> None:
        super().__init__("Student")
        # the training batch size, which the memory estimate needs (set by the Setup view)
        self.batch_size: Callable[[], int] = lambda: 4
        outer = QVBoxLayout(self)
        form = QFormLayout()
        self.source = QComboBox()
        self.source.addItems(STUDENT_SOURCES)
        self.model = QLineEdit("embedded")
        self.model.setToolTip(StudentSpec.model_fields["model"].description or "")
        self.browse = QPushButton("Folder…")
        row = QHBoxLayout()
        row.addWidget(self.model, 1)
        row.addWidget(self.browse)
        form.addRow("source", self.source)
        form.addRow("model", row)
        outer.addLayout(form)
        self.more = ModelForm(StudentSpec, "student", "", skip=("model",))
        self.more.setFlat(True)
        outer.addWidget(self.more)
        self.memory = QLabel("Memory estimate: —")
        self.memory.setWordWrap(True)
        outer.addWidget(self.memory)
        self.custom: dict[str, QWidget] = {"student.model": self.model}
        self.source.currentIndexChanged.connect(self._source_changed)
        self.browse.clicked.connect(self._pick_folder)
        self._source_changed(0)

    def _source_changed(self, index: int) -> None:
        self.browse.setEnabled(index == 2)
        self.model.setEnabled(index != 0)
        if index == 0:
            self.model.setText("embedded")
        elif self.model.text() == "embedded":
            self.model.setText("Qwen/Qwen2.5-0.5B-Instruct" if index == 1 else "")

    def _pick_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Student model folder")
        if folder:
            self.model.setText(folder)

    def update_memory(self) -> None:
        values = self.more.values()
        lora = values.get("lora", {})
        result = hooks.estimate_memory(
            self.model.text(),
            str(values.get("quantization", "nf4")),
            int(lora.get("r", 16)),
            int(values.get("max_length", 1024)),
            self.batch_size(),
        )
        self.memory.setText(f"Memory estimate: {result.text}")

    def values(self) -> dict[str, Any]:
        """The recipe's ``student`` mapping."""
        return {"model": self.model.text().strip() or "embedded", **self.more.values()}

    def set_values(self, student: dict[str, Any]) -> None:
        model = str(student.get("model", "embedded"))
        self.source.setCurrentIndex(0 if model == "embedded" else 2 if Path(model).is_dir() else 1)
        self.model.setText(model)
        self.more.set_values(student)


if __name__ == "__main__":
    from PySide6.QtWidgets import QApplication

    from gui.theme import apply_theme

    app = QApplication(sys.argv)
    apply_theme(app, "light")
    panel = StudentPanel()
    panel.update_memory()
    panel.resize(700, 600)
    panel.show()
    sys.exit(app.exec())
