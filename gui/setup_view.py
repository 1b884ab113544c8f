"""Setup: a recipe by point and click. Paradigm cards, teacher, student, data set with a
preview, generated forms for training, evaluation and stage parameters; Validate (the
same ``parse_recipe`` as `distillab validate`, problems shown at their fields), Open and
Save YAML, Run. The view builds recipe data and YAML; it never runs anything itself:
Run emits ``run_requested`` with a JobSpec for the main window's engine thread.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import yaml
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
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
    StudentSpec,
    TeacherSpec,
    TrainingSpec,
)
from engine.validate import parse_recipe
from gui import hooks
from gui.background import run_in_background
from gui.endpoints_editor import EndpointsEditor
from gui.forms import ModelForm, set_invalid
from gui.paradigm_card import ParadigmCard
from gui.settings import endpoints
from gui.setup_data import DataPanel

TEACHER_PRESETS = ["Embedded local model", "OpenAI", "vLLM", "Ollama", "llama.cpp server",
                   "LM Studio", "Custom URL", "Lab teacher (scripted)"]
LAB_PRESET = TEACHER_PRESETS[-1]  # teacher.kind lab: the controlled lab's teacher (docs/lab.md)
STUDENT_SOURCES = ["Embedded default (SmolLM2-135M-Instruct)", "Hugging Face id", "Local folder"]


class SetupView(QWidget):
    run_requested = Signal(object)  # JobSpec
    message = Signal(str)

    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.db_path = db_path
        self.recipe_path: Path | None = None
        self.paradigm = next(iter(PARADIGMS))
        self.stage_forms: dict[str, ModelForm] = {}
        self.custom: dict[str, QWidget] = {}

        body = QWidget()
        col = QVBoxLayout(body)
        col.addWidget(self._recipe_box())
        col.addWidget(self._paradigm_box())
        self.data = DataPanel()
        self.custom.update(self.data.custom)
        self.data.student_model = lambda: self.student_model.text()
        col.addWidget(self.data)
        col.addWidget(self._teacher_box())
        col.addWidget(self._student_box())
        row = QHBoxLayout()
        self.training = ModelForm(TrainingSpec, "training", "Training")
        self.evaluation = ModelForm(EvaluationSpec, "evaluation", "Evaluation")
        row.addWidget(self.training)
        row.addWidget(self.evaluation)
        col.addLayout(row)
        self.stages_box = QGroupBox("Stage parameters")
        self.stages_layout = QGridLayout(self.stages_box)
        col.addWidget(self.stages_box)
        col.addStretch(1)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setWidget(body)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)

        side = QWidget()
        side_layout = QVBoxLayout(side)
        buttons = QGridLayout()
        self.open_button = QPushButton("Open YAML…")
        self.save_button = QPushButton("Save as YAML…")
        self.validate_button = QPushButton("Validate")
        self.run_button = QPushButton("▶  Run")
        self.run_button.setDefault(True)
        self.run_button.setToolTip("Validate, then run this recipe in a worker process.")
        self.study_button = QPushButton("Run as study…")
        self.study_button.setToolTip("This recipe as the base of a study: arms (overrides) x "
                                     "seeds, compared with paired statistics.")
        for i, b in enumerate((self.open_button, self.save_button, self.validate_button,
                               self.run_button)):
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

        split = QSplitter()
        split.addWidget(self.scroll_area)
        split.addWidget(side)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setSizes([700, 420])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)

        self.open_button.clicked.connect(self.open_yaml)
        self.save_button.clicked.connect(self.save_yaml)
        self.validate_button.clicked.connect(self.validate)
        self.run_button.clicked.connect(self.run)
        self.study_button.clicked.connect(self.run_as_study)
        self.problems.itemClicked.connect(self._go_to_problem)
        self._yaml_timer = QTimer(self, singleShot=True, interval=250)
        self._yaml_timer.timeout.connect(self._refresh_yaml)
        self._memory_timer = QTimer(self, singleShot=True, interval=400)
        self._memory_timer.timeout.connect(self.update_memory)
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

    def _paradigm_box(self) -> QGroupBox:
        box = QGroupBox("Paradigm")
        grid = QGridLayout(box)
        self.cards: dict[str, ParadigmCard] = {}
        for i, paradigm in enumerate(PARADIGMS.values()):
            card = ParadigmCard(paradigm)
            card.clicked.connect(self.choose_paradigm)
            self.cards[paradigm.name] = card
            grid.addWidget(card, i // 3, i % 3)
        self.custom["paradigm"] = box
        return box

    def _teacher_box(self) -> QGroupBox:
        box = QGroupBox("Teacher")
        outer = QVBoxLayout(box)
        form = QFormLayout()
        self.teacher_preset = QComboBox()
        self.teacher_preset.addItems(TEACHER_PRESETS)
        self.teacher_preset.setToolTip(TeacherSpec.model_fields["kind"].description or "")
        self.base_url = QLineEdit()
        self.base_url.setToolTip(TeacherSpec.model_fields["base_url"].description or "")
        self.teacher_model = QComboBox()
        self.teacher_model.setEditable(True)
        self.teacher_model.setToolTip(TeacherSpec.model_fields["model"].description or "")
        self.fetch_models = QPushButton("Fetch models")
        model_row = QHBoxLayout()
        model_row.addWidget(self.teacher_model, 1)
        model_row.addWidget(self.fetch_models)
        self.key_env = QLineEdit()
        self.key_env.setPlaceholderText("e.g. OPENAI_API_KEY")
        self.key_env.setToolTip(TeacherSpec.model_fields["api_key_env"].description or "")
        self.key_status = QLabel()
        self.key_status.setObjectName("muted")
        self.keyring_key = QLineEdit()
        self.keyring_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.keyring_key.setPlaceholderText("or paste a key to keep in the system keyring")
        self.keyring_save = QPushButton("Save to keyring")
        key_row = QHBoxLayout()
        key_row.addWidget(self.keyring_key, 1)
        key_row.addWidget(self.keyring_save)
        self.test_button = QPushButton("Test connection")
        self.test_result = QLabel()
        self.test_result.setWordWrap(True)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.test_result, 1)
        form.addRow("preset", self.teacher_preset)
        form.addRow("base URL", self.base_url)
        form.addRow("model", model_row)
        form.addRow("API key env var", self.key_env)
        form.addRow("", self.key_status)
        form.addRow("keyring", key_row)
        form.addRow(test_row)
        outer.addLayout(form)
        self.pool = EndpointsEditor()
        outer.addWidget(self.pool)
        self.teacher_more = ModelForm(TeacherSpec, "teacher", "More teacher settings",
                                      skip=("kind", "base_url", "model", "api_key_env",
                                            "endpoints", "batch"))
        outer.addWidget(self.teacher_more)
        self.custom.update({"teacher.kind": self.teacher_preset, "teacher.base_url": self.base_url,
                            "teacher.model": self.teacher_model,
                            "teacher.api_key_env": self.key_env})
        self.teacher_preset.currentTextChanged.connect(self._preset_changed)
        self.key_env.textChanged.connect(self._key_status)
        self.fetch_models.clicked.connect(self.fetch_teacher_models)
        self.test_button.clicked.connect(self.test_connection)
        self.keyring_save.clicked.connect(self._save_key)
        self.pool.changed.connect(self._pool_changed)
        self._preset_changed(self.teacher_preset.currentText())
        return box

    def _student_box(self) -> QGroupBox:
        box = QGroupBox("Student")
        outer = QVBoxLayout(box)
        form = QFormLayout()
        self.student_source = QComboBox()
        self.student_source.addItems(STUDENT_SOURCES)
        self.student_model = QLineEdit("embedded")
        self.student_model.setToolTip(StudentSpec.model_fields["model"].description or "")
        self.student_browse = QPushButton("Folder…")
        row = QHBoxLayout()
        row.addWidget(self.student_model, 1)
        row.addWidget(self.student_browse)
        form.addRow("source", self.student_source)
        form.addRow("model", row)
        outer.addLayout(form)
        self.student_more = ModelForm(StudentSpec, "student", "", skip=("model",))
        self.student_more.setFlat(True)
        outer.addWidget(self.student_more)
        self.memory = QLabel("Memory estimate: —")
        self.memory.setWordWrap(True)
        outer.addWidget(self.memory)
        self.custom["student.model"] = self.student_model
        self.student_source.currentIndexChanged.connect(self._student_source)
        self.student_browse.clicked.connect(self._pick_student_folder)
        self._student_source(0)
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
            self.status.setText(f"Started from {path.name}; Save as YAML keeps your version.")
        else:
            self.select_paradigm(name)

    def select_paradigm(self, name: str) -> None:
        self.paradigm = name
        for n, card in self.cards.items():
            card.set_selected(n == name)
        while self.stages_layout.count():
            item = self.stages_layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.hide()  # deleteLater acts later; the old forms must vanish now
                widget.deleteLater()
        self.stage_forms = {}
        for i, spec in enumerate(PARADIGMS[name].stages):
            form = ModelForm(spec.params, f"stages.{spec.name}", spec.name)
            form.setToolTip(spec.help)
            self.stage_forms[spec.name] = form
            self.stages_layout.addWidget(form, i // 3, i % 3, Qt.AlignmentFlag.AlignTop)
            self._watch(form)
        self._changed()

    def _preset_changed(self, preset: str) -> None:
        embedded = preset in ("Embedded local model", LAB_PRESET)
        for w in (self.base_url, self.key_env, self.keyring_key, self.keyring_save,
                  self.fetch_models):
            w.setEnabled(not embedded)
        self.base_url.setEnabled(not embedded and not self.pool.endpoints())
        if embedded:
            self.base_url.setText("")
            self.teacher_model.setCurrentText("lab" if preset == LAB_PRESET else "embedded")
        elif preset != "Custom URL":
            self.base_url.setText(endpoints().get(preset, ""))
            if preset == "OpenAI" and not self.key_env.text():
                self.key_env.setText("OPENAI_API_KEY")
            if self.teacher_model.currentText() == "embedded":
                self.teacher_model.setCurrentText("gpt-4o-mini" if preset == "OpenAI" else "")
        self._key_status()

    def _pool_changed(self) -> None:
        """A server pool replaces the single base URL (the recipe takes one or the other)."""
        embedded = self.teacher_preset.currentText() in (TEACHER_PRESETS[0], LAB_PRESET)
        self.base_url.setEnabled(not embedded and not self.pool.endpoints())
        self.base_url.setToolTip("the server pool below is used instead" if self.pool.endpoints()
                                 else TeacherSpec.model_fields["base_url"].description or "")
        if hasattr(self, "_yaml_timer"):
            self._changed()

    def _key_status(self) -> None:
        name = self.key_env.text().strip()
        if not name:
            self.key_status.setText("no key (fine for local servers)")
        elif os.environ.get(name):
            self.key_status.setText(f"✓ ${name} is set in this environment")
        else:
            self.key_status.setText(f"${name} is not set here; the keyring is tried next")

    def api_key(self) -> str | None:
        name = self.key_env.text().strip()
        if not name:
            return None
        return os.environ.get(name) or hooks.keyring_key("distillab", name)

    def _save_key(self) -> None:
        name = self.key_env.text().strip() or "OPENAI_API_KEY"
        result = hooks.save_keyring_key("distillab", name, self.keyring_key.text())
        self.keyring_key.clear()
        self.test_result.setText(result.text)

    def fetch_teacher_models(self) -> None:
        """List the endpoint's models, off the GUI thread (a dead host takes seconds)."""
        self.fetch_models.setEnabled(False)
        self.test_result.setText("Fetching the model list…")
        run_in_background(self, hooks.list_models, self.base_url.text(), self.api_key(),
                          on_done=self._models_fetched)

    def _models_fetched(self, result: hooks.HookResult) -> None:
        self.fetch_models.setEnabled(True)
        if result.ok:
            current = self.teacher_model.currentText()
            self.teacher_model.clear()
            self.teacher_model.addItems(result.value)
            if current:
                self.teacher_model.setCurrentText(current)
        self.test_result.setText(result.text)

    def test_connection(self) -> None:
        """The capability probe, off the GUI thread (it may wait for a slow endpoint, or
        start the embedded llama.cpp server for the embedded preset)."""
        self.test_button.setEnabled(False)
        self.test_result.setText("Testing the connection…")
        if self.teacher_preset.currentText() == TEACHER_PRESETS[0]:
            run_in_background(self, hooks.probe_embedded,
                              self.teacher_model.currentText() or "embedded",
                              on_done=self._probed)
        elif self.teacher_preset.currentText() == LAB_PRESET:
            run_in_background(self, hooks.probe_lab, on_done=self._probed)
        else:
            run_in_background(self, hooks.probe_teacher, self.base_url.text(),
                              self.teacher_model.currentText(), self.api_key(),
                              on_done=self._probed)

    def _probed(self, result: hooks.HookResult) -> None:
        self.test_button.setEnabled(True)
        self.test_result.setText(("✓ " if result.ok else "") + result.text)

    def _student_source(self, index: int) -> None:
        self.student_browse.setEnabled(index == 2)
        self.student_model.setEnabled(index != 0)
        if index == 0:
            self.student_model.setText("embedded")
        elif self.student_model.text() == "embedded":
            self.student_model.setText("Qwen/Qwen2.5-0.5B-Instruct" if index == 1 else "")

    def _pick_student_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Student model folder")
        if folder:
            self.student_model.setText(folder)

    def update_memory(self) -> None:
        values = self.student_more.values()
        lora = values.get("lora", {})
        result = hooks.estimate_memory(
            self.student_model.text(), str(values.get("quantization", "nf4")),
            int(lora.get("r", 16)), int(values.get("max_length", 1024)),
            int(self.training.values().get("batch_size", 4)))
        self.memory.setText(f"Memory estimate: {result.text}")

    # -- recipe data ---------------------------------------------------------------------
    def recipe_data(self) -> dict[str, Any]:
        preset = self.teacher_preset.currentText()
        kind = {TEACHER_PRESETS[0]: "embedded", LAB_PRESET: "lab"}.get(preset, "openai")
        teacher: dict[str, Any] = {"kind": kind}
        if self.base_url.text().strip() and not self.pool.endpoints():
            teacher["base_url"] = self.base_url.text().strip()
        teacher["model"] = self.teacher_model.currentText().strip() or "embedded"
        if self.key_env.text().strip():
            teacher["api_key_env"] = self.key_env.text().strip()
        teacher.update(self.teacher_more.values())
        teacher.update(self.pool.values())
        student = {"model": self.student_model.text().strip() or "embedded",
                   **self.student_more.values()}
        data: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION, "name": self.name.text().strip(),
            "paradigm": self.paradigm, "seed": self.seed.value()}
        if self.description.text().strip():
            data["description"] = self.description.text().strip()
        data["dataset"] = self.data.values()
        data["teacher"] = teacher
        data["student"] = student
        for key, form in (("training", self.training), ("evaluation", self.evaluation)):
            values = form.values()
            if values:
                data[key] = values
        stages = {name: form.values() for name, form in self.stage_forms.items()}
        data["stages"] = {k: v for k, v in stages.items() if v}
        if not data["stages"]:
            del data["stages"]
        return data

    def recipe_text(self) -> str:
        header = "# Made with the Distillab Setup view.\n"
        if self.recipe_path:
            header += f"# Run it with:   distillab run {self.recipe_path}\n"
        return header + yaml.safe_dump(self.recipe_data(), sort_keys=False, allow_unicode=True)

    def _refresh_yaml(self) -> None:
        self.yaml_view.setPlainText(self.recipe_text())

    def load_data(self, data: dict[str, Any]) -> None:
        self.name.setText(str(data.get("name", "")))
        self.description.setText(str(data.get("description", "")))
        self.seed.setValue(int(data.get("seed", 0) or 0))
        if str(data.get("paradigm")) in PARADIGMS:
            self.select_paradigm(str(data["paradigm"]))
        self.data.set_values(data.get("dataset") or {})
        teacher = data.get("teacher") or {}
        if teacher.get("kind", "embedded") in ("embedded", "lab"):
            self.teacher_preset.setCurrentText(TEACHER_PRESETS[0] if teacher.get("kind", "embedded")
                                               == "embedded" else LAB_PRESET)
        elif teacher.get("endpoints"):  # a pool of servers instead of one base URL
            self.teacher_preset.setCurrentText("Custom URL")
            self.base_url.setText("")
        else:
            url = str(teacher.get("base_url") or "https://api.openai.com/v1")
            named = [n for n, u in endpoints().items() if u.rstrip("/") == url.rstrip("/")]
            self.teacher_preset.setCurrentText(named[0] if named else "Custom URL")
            self.base_url.setText(url)
        default_model = "lab" if teacher.get("kind") == "lab" else "embedded"
        self.teacher_model.setCurrentText(str(teacher.get("model", default_model)))
        self.key_env.setText(str(teacher.get("api_key_env") or ""))
        self.teacher_more.set_values(teacher)
        self.pool.set_values(teacher)
        student = data.get("student") or {}
        model = str(student.get("model", "embedded"))
        self.student_source.setCurrentIndex(0 if model == "embedded" else
                                            2 if Path(model).is_dir() else 1)
        self.student_model.setText(model)
        self.student_more.set_values(student)
        self.training.set_values(data.get("training") or {})
        self.evaluation.set_values(data.get("evaluation") or {})
        stages = data.get("stages") or {}
        for name, form in self.stage_forms.items():
            form.set_values(stages.get(name) or {})
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
        self.status.setText("✓ The recipe is valid.")
        return True

    def _clear_problems(self) -> None:
        self.problems.clear()
        for w in self._all_field_widgets():
            set_invalid(w, None)

    def _all_field_widgets(self) -> list[QWidget]:
        out = list(self.custom.values()) + self.pool.all_widgets()
        for form in (self.teacher_more, self.student_more, self.training, self.evaluation,
                     *self.stage_forms.values()):
            out += form.all_widgets()
        return out

    def widget_for(self, path: str) -> QWidget | None:
        """The widget showing a recipe field (the closest parent that has one)."""
        parts = path.split(".")
        pool = self.pool.widget_at(path)
        if pool is not None:
            return pool
        while parts:
            key = ".".join(parts)
            if key in self.custom:
                return self.custom[key]
            for form in (self.teacher_more, self.student_more, self.training, self.evaluation,
                         self.data.more, *self.stage_forms.values()):
                found = form.widget_at(key)
                if found is not None and (found is not form or key == form.prefix):
                    return found
            parts.pop()
        return None

    def _show_problems(self, problems: list[Problem]) -> None:
        self.status.setText(f"✗ {len(problems)} problem{'s' if len(problems) != 1 else ''}: "
                            "fix the marked fields.")
        for p in problems:
            item = QListWidgetItem(f"{p.field or '(recipe)'}: {p.message}" +
                                   (f"\n  fix: {p.fix}" if p.fix else ""))
            item.setData(Qt.ItemDataRole.UserRole, p.field)
            self.problems.addItem(item)
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
            self.status.setText(f"✗ cannot open {p}: {exc}")
            return
        self.recipe_path = p
        self.data.base_dir = p.resolve().parent
        self.load_data(data if isinstance(data, dict) else {})
        self.status.setText(f"Opened {p}.")
        self.validate()

    def save_yaml(self, path: str | Path | None = None) -> None:
        if not path:
            path, _ = QFileDialog.getSaveFileName(self, "Save recipe", f"{self.name.text()}.yaml",
                                                  "Recipes (*.yaml)")
            if not path:
                return
        self.recipe_path = Path(path)
        self.data.rebase(self.recipe_path.resolve().parent)
        self.recipe_path.write_text(self.recipe_text(), encoding="utf-8")
        self.status.setText(f"Saved {self.recipe_path}.")

    def run(self) -> None:
        if not self.validate():
            return
        base = self.base_dir()
        spec = JobSpec(str(self.db_path), recipe_text=self.recipe_text(),
                       recipe_source=str(self.recipe_path or "<setup>"),
                       recipe_dir=str(base) if base else None)
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
        self.run_requested.emit(JobSpec(str(self.db_path), study_text=self.study_dialog.study_text(),
                                        study_source="<setup study>",
                                        study_dir=str(base) if base else None))


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
