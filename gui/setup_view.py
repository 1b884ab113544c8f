"""Setup: a recipe by point and click. Paradigm cards, teacher, student, data set with a
preview, generated forms for training, evaluation and stage parameters; Validate (the
same ``parse_recipe`` as `distillab validate`, problems shown at their fields), Open and
Save YAML, Run. The view builds recipe data and YAML; it never runs anything itself:
Run emits ``run_requested`` with a JobSpec for the main window's engine thread.

The sections are panels of their own (gui.setup_paradigm, gui.setup_data,
gui.setup_teacher, gui.setup_student), each reading and writing its part of the recipe,
and the right-hand column is gui.setup_side; this module lays them out, joins their
parts into one recipe and marks the problems at their fields.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from PySide6.QtCore import QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QListWidgetItem,
    QScrollArea,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from engine.jobs import JobSpec
from engine.paradigms import PARADIGMS
from engine.paths import RECIPES_DIR
from engine.recipes import (
    SCHEMA_VERSION,
    EvaluationSpec,
    Problem,
    RecipeError,
    TrainingSpec,
)
from engine.validate import parse_recipe
from gui.forms import ModelForm, set_invalid
from gui.setup_data import DataPanel
from gui.setup_paradigm import ParadigmCards, StageForms
from gui.setup_side import RecipeSide
from gui.setup_student import StudentPanel
from gui.setup_teacher import TeacherPanel


class ColumnScroll(QScrollArea):
    """The Setup column's scroll area: it scrolls up and down only. Its minimum width is its
    contents' (plus the vertical scroll bar), so the splitter gives the column that much
    and no card or form is cut off at the right edge of a narrow window."""

    def minimumSizeHint(self) -> QSize:
        hint = super().minimumSizeHint()
        body = self.widget()
        if body is None:
            return hint
        bar = self.verticalScrollBar().sizeHint().width()
        return QSize(body.minimumSizeHint().width() + bar + 2 * self.frameWidth(), hint.height())


class SetupView(QWidget):
    run_requested = Signal(object)  # JobSpec
    message = Signal(str)

    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.db_path = db_path
        self.recipe_path: Path | None = None
        self.paradigm = next(iter(PARADIGMS))
        self.custom: dict[str, QWidget] = {}

        body = QWidget()
        col = QVBoxLayout(body)
        col.addWidget(self._recipe_box())
        self.paradigm_cards = ParadigmCards()
        self.paradigm_cards.chosen.connect(self.choose_paradigm)
        self.custom["paradigm"] = self.paradigm_cards
        col.addWidget(self.paradigm_cards)
        self.data = DataPanel()
        self.custom.update(self.data.custom)
        self.data.student_model = lambda: self.student.model.text()
        col.addWidget(self.data)
        self.teacher = TeacherPanel()
        self.custom.update(self.teacher.custom)
        col.addWidget(self.teacher)
        self.student = StudentPanel()
        self.custom.update(self.student.custom)
        self.student.batch_size = lambda: int(self.training.values().get("batch_size", 4))
        col.addWidget(self.student)
        row = QHBoxLayout()
        self.training = ModelForm(TrainingSpec, "training", "Training")
        self.evaluation = ModelForm(EvaluationSpec, "evaluation", "Evaluation")
        row.addWidget(self.training)
        row.addWidget(self.evaluation)
        col.addLayout(row)
        self.stages = StageForms()
        col.addWidget(self.stages)
        col.addStretch(1)
        self.scroll_area = ColumnScroll()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setWidget(body)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)

        self.side = RecipeSide()

        split = QSplitter()
        split.addWidget(self.scroll_area)
        split.addWidget(self.side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([700, 420])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)

        self.side.open_button.clicked.connect(self.open_yaml)
        self.side.save_button.clicked.connect(self.save_yaml)
        self.side.validate_button.clicked.connect(self.validate)
        self.side.run_button.clicked.connect(self.run)
        self.side.study_button.clicked.connect(self.run_as_study)
        self.side.problems.itemClicked.connect(self._go_to_problem)
        self._yaml_timer = QTimer(self, singleShot=True, interval=250)
        self._yaml_timer.timeout.connect(self._refresh_yaml)
        self._memory_timer = QTimer(self, singleShot=True, interval=400)
        self._memory_timer.timeout.connect(self.student.update_memory)
        self.teacher.changed.connect(self._changed)
        self.select_paradigm(self.paradigm)
        self._watch(self)
        self._refresh_yaml()

    # -- boxes ---------------------------------------------------------------------------
    def _recipe_box(self) -> QGroupBox:
        box = QGroupBox("Recipe")
        form = QFormLayout(box)
        self.name = QLineEdit("my-experiment")
        self.name.setToolTip("A short name for runs of this recipe.")
        self.description = QLineEdit()
        self.description.setToolTip("What this recipe is for.")
        self.seed = QSpinBox()
        self.seed.setRange(0, 2**31 - 1)
        self.seed.setToolTip("Seed for splits, sampling and training.")
        form.addRow("name", self.name)
        form.addRow("description", self.description)
        form.addRow("seed", self.seed)
        self.custom.update({"name": self.name, "description": self.description, "seed": self.seed})
        return box

    # -- behaviour -----------------------------------------------------------------------
    def _watch(self, root: QWidget) -> None:
        """Refresh the YAML preview (and the memory estimate) whenever any input changes."""
        for w in root.findChildren(QLineEdit):
            w.textChanged.connect(self._changed)
        for c in root.findChildren(QComboBox):
            c.currentTextChanged.connect(self._changed)
        for s in root.findChildren(QSpinBox):
            s.valueChanged.connect(self._changed)

    def _changed(self, *_: Any) -> None:
        self._yaml_timer.start()
        self._memory_timer.start()

    def choose_paradigm(self, name: str) -> None:
        """A click on a card: start from that paradigm's shipped default recipe, so the data
        set, models and stage settings fit it (the shipped file itself is never saved over)."""
        if name == self.paradigm:
            return
        default = PARADIGMS[name].default_recipe
        path = RECIPES_DIR / default if default else None
        if path is not None and path.is_file():
            self.open_yaml(path)
            self.recipe_path = None
            self.side.status.setText(f"Started from {path.name}; Save as YAML keeps your version.")
        else:
            self.select_paradigm(name)

    def select_paradigm(self, name: str) -> None:
        self.paradigm = name
        self.paradigm_cards.set_selected(name)
        for form in self.stages.show_paradigm(name):
            self._watch(form)
        self.scroll_area.updateGeometry()  # the new stage forms may need another width
        self._changed()

    # -- recipe data ---------------------------------------------------------------------
    def recipe_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "name": self.name.text().strip(),
            "paradigm": self.paradigm,
            "seed": self.seed.value(),
        }
        if self.description.text().strip():
            data["description"] = self.description.text().strip()
        data["dataset"] = self.data.values()
        data["teacher"] = self.teacher.values()
        data["student"] = self.student.values()
        for key, form in (("training", self.training), ("evaluation", self.evaluation)):
            values = form.values()
            if values:
                data[key] = values
        stages = self.stages.values()
        if stages:
            data["stages"] = stages
        return data

    def recipe_text(self) -> str:
        header = "# Made with the Distillab Setup view.\n"
        if self.recipe_path:
            header += f"# Run it with:   distillab run {self.recipe_path}\n"
        return header + yaml.safe_dump(self.recipe_data(), sort_keys=False, allow_unicode=True)

    def _refresh_yaml(self) -> None:
        self.side.yaml_view.setPlainText(self.recipe_text())

    def load_data(self, data: dict[str, Any]) -> None:
        self.name.setText(str(data.get("name", "")))
        self.description.setText(str(data.get("description", "")))
        self.seed.setValue(int(data.get("seed", 0) or 0))
        if str(data.get("paradigm")) in PARADIGMS:
            self.select_paradigm(str(data["paradigm"]))
        self.data.set_values(data.get("dataset") or {})
        self.teacher.set_values(data.get("teacher") or {})
        self.student.set_values(data.get("student") or {})
        self.training.set_values(data.get("training") or {})
        self.evaluation.set_values(data.get("evaluation") or {})
        self.stages.set_values(data.get("stages") or {})
        self._refresh_yaml()

    # -- actions -------------------------------------------------------------------------
    def base_dir(self) -> Path | None:
        """Where relative paths in the recipe start: the recipe's folder (for a recipe
        started from a shipped default, the recipes/ folder it came from)."""
        if self.recipe_path:
            return self.recipe_path.resolve().parent
        return self.data.base_dir

    def validate(self) -> bool:
        """Validate with the CLI's function; returns True when the recipe is valid."""
        self._refresh_yaml()
        self._clear_problems()
        source = str(self.recipe_path) if self.recipe_path else "<setup>"
        try:
            parse_recipe(self.recipe_text(), source, self.base_dir())
        except RecipeError as exc:
            self._show_problems(exc.problems)
            return False
        problems = self.data.check(self.base_dir())
        if problems:
            self._show_problems(problems)
            return False
        self.side.status.setText("✓ The recipe is valid.")
        return True

    def _clear_problems(self) -> None:
        self.side.problems.clear()
        for w in self._all_field_widgets():
            set_invalid(w, None)

    def _all_field_widgets(self) -> list[QWidget]:
        out = list(self.custom.values()) + self.teacher.pool.all_widgets()
        for form in (
            self.teacher.more,
            self.student.more,
            self.training,
            self.evaluation,
            *self.stages.forms.values(),
        ):
            out += form.all_widgets()
        return out

    def widget_for(self, path: str) -> QWidget | None:
        """The widget showing a recipe field (the closest parent that has one)."""
        parts = path.split(".")
        pool = self.teacher.pool.widget_at(path)
        if pool is not None:
            return pool
        while parts:
            key = ".".join(parts)
            if key in self.custom:
                return self.custom[key]
            for form in (
                self.teacher.more,
                self.student.more,
                self.training,
                self.evaluation,
                self.data.more,
                *self.stages.forms.values(),
            ):
                found = form.widget_at(key)
                if found is not None and (found is not form or key == form.prefix):
                    return found
            parts.pop()
        return None

    def _show_problems(self, problems: list[Problem]) -> None:
        self.side.show_problems(problems)
        for p in problems:
            widget = self.widget_for(p.field)
            if widget is not None:
                set_invalid(widget, p.message + (f"\nfix: {p.fix}" if p.fix else ""))

    def _go_to_problem(self, item: QListWidgetItem) -> None:
        widget = self.widget_for(str(item.data(Qt.ItemDataRole.UserRole) or ""))
        if widget is not None:
            self.scroll_area.ensureWidgetVisible(widget)
            widget.setFocus()

    def open_yaml(self, path: str | Path | None = None) -> None:
        if not path:
            path, _ = QFileDialog.getOpenFileName(self, "Open recipe", "", "Recipes (*.yaml *.yml)")
            if not path:
                return
        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            self.side.status.setText(f"✗ cannot open {p}: {exc}")
            return
        self.recipe_path = p
        self.data.base_dir = p.resolve().parent
        self.load_data(data if isinstance(data, dict) else {})
        self.side.status.setText(f"Opened {p}.")
        self.validate()

    def save_yaml(self, path: str | Path | None = None) -> None:
        if not path:
            path, _ = QFileDialog.getSaveFileName(
                self, "Save recipe", f"{self.name.text()}.yaml", "Recipes (*.yaml)"
            )
            if not path:
                return
        self.recipe_path = Path(path)
        self.data.rebase(self.recipe_path.resolve().parent)
        self.recipe_path.write_text(self.recipe_text(), encoding="utf-8")
        self.side.status.setText(f"Saved {self.recipe_path}.")

    def run(self) -> None:
        if not self.validate():
            return
        base = self.base_dir()
        spec = JobSpec(
            str(self.db_path),
            recipe_text=self.recipe_text(),
            recipe_source=str(self.recipe_path or "<setup>"),
            recipe_dir=str(base) if base else None,
        )
        self.run_requested.emit(spec)

    def run_as_study(self) -> None:
        """Validate, then ask for arms and seeds (StudyDialog); a study job on accept."""
        if not self.validate():
            return
        from gui.study_dialog import StudyDialog

        self.study_dialog = StudyDialog(self.recipe_data(), self.base_dir(), self)
        self.study_dialog.accepted.connect(self._study_accepted)
        self.study_dialog.open()

    def _study_accepted(self) -> None:
        base = self.base_dir()
        self.run_requested.emit(
            JobSpec(
                str(self.db_path),
                study_text=self.study_dialog.study_text(),
                study_source="<setup study>",
                study_dir=str(base) if base else None,
            )
        )


if __name__ == "__main__":
    from PySide6.QtWidgets import QApplication

    from engine.paths import RECIPES_DIR
    from gui.theme import apply_theme

    app = QApplication(sys.argv)
    apply_theme(app, "light")
    view = SetupView(Path("/tmp/distillab-preview.db"))
    view.open_yaml(RECIPES_DIR / "smoke.yaml")
    view.resize(1300, 900)
    view.show()
    sys.exit(app.exec())
