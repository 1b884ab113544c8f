"""Setup's "Run as study…": the recipe on screen becomes the base of a study.

The dialog asks for the arms (a name and ``--set``-style overrides each), the seeds and
the metric to compare, builds a study file around the recipe (inline, as ``base_recipe``,
so an unsaved recipe works and its relative paths start where the recipe's do), and
validates it with the same ``parse_study`` as `distillab study validate`, listing every
problem. It never runs anything: Setup turns the accepted study into a JobSpec.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.studies.spec import SCHEMA_VERSION, StudyError, parse_study

METRICS = ["accuracy", "solve@1", "solve@5", "solve@10", "score"]


class StudyDialog(QDialog):
    def __init__(self, recipe: dict[str, Any], base_dir: Path | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Run as study")
        self.recipe = recipe
        self.base_dir = base_dir
        self.name = QLineEdit(f"{recipe.get('name') or 'recipe'}-study")
        self.name.setToolTip("A short name for the study.")
        self.seeds = QLineEdit("0, 1, 2")
        self.seeds.setToolTip("Every arm runs once per seed; the seed also fixes the data "
                              "split, so arms are compared on the same items seed by seed.")
        self.metric_box = QComboBox()
        self.metric_box.setEditable(True)
        self.metric_box.addItems(METRICS)
        self.metric_box.setToolTip("accuracy, score, solve@K / pass@K per item, or metric:NAME.")
        self.stage = QLineEdit()
        self.stage.setPlaceholderText("the last stage that stored evaluations")
        self.pairs = QComboBox()
        self.pairs.addItems(["every arm against the first", "every pair of arms"])
        form = QFormLayout()
        form.addRow("name", self.name)
        form.addRow("seeds", self.seeds)
        form.addRow("metric", self.metric_box)
        form.addRow("evaluating stage", self.stage)
        form.addRow("compare", self.pairs)

        self.arms = QTableWidget(0, 3)
        self.arms.setHorizontalHeaderLabels(["arm", "overrides (key.path=value; …)",
                                             "description"])
        self.arms.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.arms.setColumnWidth(0, 120)
        self.arms.setColumnWidth(2, 220)
        self.arms.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.arms.setToolTip("One row per arm. Overrides are what differs from the recipe, "
                             "as for `distillab run --set`, e.g. stages.check.noise=0.2")
        self.add_arm("base", "", "the recipe as it is")
        self.add_arm("variant", "", "")
        add = QPushButton("Add arm")
        remove = QPushButton("Remove arm")
        add.clicked.connect(lambda: self.add_arm(f"arm-{self.arms.rowCount() + 1}", "", ""))
        remove.clicked.connect(self._remove_arm)
        arm_buttons = QHBoxLayout()
        arm_buttons.addWidget(add)
        arm_buttons.addWidget(remove)
        arm_buttons.addStretch(1)

        self.problems = QListWidget()
        self.problems.setWordWrap(True)
        self.problems.setMaximumHeight(120)
        self.status = QLabel(f"The base is the recipe on screen ({recipe.get('paradigm')}).")
        self.status.setWordWrap(True)
        self.run_button = QPushButton("▶  Run study")
        self.run_button.setDefault(True)
        cancel = QPushButton("Cancel")
        self.run_button.clicked.connect(self.try_accept)
        cancel.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(self.run_button)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(QLabel("Arms"))
        layout.addWidget(self.arms, 1)
        layout.addLayout(arm_buttons)
        layout.addWidget(self.status)
        layout.addWidget(self.problems)
        layout.addLayout(buttons)
        self.resize(760, 520)

    def add_arm(self, name: str, overrides: str, description: str) -> None:
        row = self.arms.rowCount()
        self.arms.insertRow(row)
        for col, text in enumerate((name, overrides, description)):
            self.arms.setItem(row, col, QTableWidgetItem(text))

    def _remove_arm(self) -> None:
        rows = sorted({i.row() for i in self.arms.selectedIndexes()}, reverse=True)
        for row in rows or [self.arms.rowCount() - 1]:
            if self.arms.rowCount() > 1:
                self.arms.removeRow(row)

    def _text(self, row: int, col: int) -> str:
        item = self.arms.item(row, col)
        return item.text().strip() if item is not None else ""

    def study_data(self) -> dict[str, Any]:
        seeds: list[Any] = []
        for part in re.split(r"[,\s]+", self.seeds.text().strip()):
            if part:
                seeds.append(int(part) if re.fullmatch(r"-?\d+", part) else part)
        arms = []
        for row in range(self.arms.rowCount()):
            arm: dict[str, Any] = {"name": self._text(row, 0)}
            overrides = [o.strip() for o in self._text(row, 1).split(";") if o.strip()]
            if overrides:
                arm["set"] = overrides
            if self._text(row, 2):
                arm["description"] = self._text(row, 2)
            arms.append(arm)
        comparison: dict[str, Any] = {"metric": self.metric_box.currentText().strip() or "accuracy",
                                      "pairs": "baseline" if self.pairs.currentIndex() == 0
                                      else "all"}
        if self.stage.text().strip():
            comparison["stage"] = self.stage.text().strip()
        return {"schema_version": SCHEMA_VERSION, "name": self.name.text().strip(),
                "base_recipe": self.recipe, "seeds": seeds, "arms": arms,
                "comparisons": [comparison]}

    def study_text(self) -> str:
        return ("# Made with Setup's Run as study.\n"
                + yaml.safe_dump(self.study_data(), sort_keys=False, allow_unicode=True))

    def validate(self) -> bool:
        """The CLI's validation; every problem listed. True when the study is valid."""
        self.problems.clear()
        try:
            loaded = parse_study(self.study_text(), "<setup study>", self.base_dir)
        except StudyError as exc:
            self.status.setText(f"✗ {len(exc.problems)} problem"
                                f"{'s' if len(exc.problems) != 1 else ''}:")
            for p in exc.problems:
                self.problems.addItem(f"{p.field or '(study)'}: {p.message}"
                                      + (f"\n  fix: {p.fix}" if p.fix else ""))
            return False
        self.status.setText(f"✓ {len(loaded.study.arms)} arms × {len(loaded.study.seeds)} "
                            f"seeds = {len(loaded.runs)} runs.")
        return True

    def try_accept(self) -> None:
        if self.validate():
            self.accept()
