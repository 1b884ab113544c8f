"""The right-hand column of Setup: the Open, Save, Validate, Run and Run as study buttons,
the status line, the list of validation problems and the live recipe YAML. It only
shows; the Setup view connects the buttons and decides what to show.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.recipes import Problem


class RecipeSide(QWidget):
    def __init__(self) -> None:
        super().__init__()
        side_layout = QVBoxLayout(self)
        buttons = QGridLayout()
        self.open_button = QPushButton("Open YAML…")
        self.save_button = QPushButton("Save as YAML…")
        self.validate_button = QPushButton("Validate")
        self.run_button = QPushButton("▶  Run")
        self.run_button.setDefault(True)
        self.run_button.setToolTip("Validate, then run this recipe in a worker process.")
        self.study_button = QPushButton("Run as study…")
        self.study_button.setToolTip(
            "This recipe as the base of a study: arms (overrides) x seeds, compared with paired statistics."
        )
        for i, b in enumerate((self.open_button, self.save_button, self.validate_button, self.run_button)):
            buttons.addWidget(b, i // 2, i % 2)
        buttons.addWidget(self.study_button, 2, 1)
        side_layout.addLayout(buttons)
        self.status = QLabel("Not validated yet.")
        self.status.setWordWrap(True)
        side_layout.addWidget(self.status)
        self.problems = QListWidget()
        self.problems.setWordWrap(True)
        self.problems.setToolTip("Click a problem to go to its field.")
        side_layout.addWidget(QLabel("Problems"))
        side_layout.addWidget(self.problems, 1)
        self.problems.setMaximumHeight(220)
        side_layout.addWidget(QLabel("Recipe YAML"))
        self.yaml_view = QPlainTextEdit()
        self.yaml_view.setReadOnly(True)
        self.yaml_view.setStyleSheet("font-family: monospace;")
        side_layout.addWidget(self.yaml_view, 3)

    def show_problems(self, problems: list[Problem]) -> None:
        """List the problems (each item keeps its field path, to go to the field)."""
        self.status.setText(
            f"✗ {len(problems)} problem{'s' if len(problems) != 1 else ''}: fix the marked fields."
        )
        for p in problems:
            item = QListWidgetItem(
                f"{p.field or '(recipe)'}: {p.message}" + (f"\n  fix: {p.fix}" if p.fix else "")
            )
            item.setData(Qt.ItemDataRole.UserRole, p.field)
            self.problems.addItem(item)
