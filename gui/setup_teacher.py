"""The teacher part of Setup: a preset (embedded local model, lab teacher, or an
OpenAI-compatible server), base URL, model with a Fetch models button, the API key's
environment variable (or a key kept in the system keyring), Test connection, the server
pool (gui.endpoints_editor) and the remaining TeacherSpec fields as a generated form.
Network calls go through ``gui.hooks`` off the GUI thread; the panel only reads and
writes the recipe's ``teacher`` mapping.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.recipes import TeacherSpec
from gui import hooks
from gui.background import run_in_background
from gui.endpoints_editor import EndpointsEditor
from gui.forms import ModelForm
from gui.settings import endpoints

TEACHER_PRESETS = [
    "Embedded local model",
    "OpenAI",
    "vLLM",
    "Ollama",
    "llama.cpp server",
    "LM Studio",
    "Custom URL",
    "Lab teacher (scripted)",
]
EMBEDDED_PRESET = TEACHER_PRESETS[0]
LAB_PRESET = TEACHER_PRESETS[-1]  # teacher.kind lab: the controlled lab's teacher (docs/lab.md)


class TeacherPanel(QGroupBox):
    changed = Signal()  # the server pool changed: the recipe preview is stale

    def __init__(self) -> None:
        super().__init__("Teacher")
        outer = QVBoxLayout(self)
        form = QFormLayout()
        self.preset = QComboBox()
        self.preset.addItems(TEACHER_PRESETS)
        self.preset.setToolTip(TeacherSpec.model_fields["kind"].description or "")
        self.base_url = QLineEdit()
        self.base_url.setToolTip(TeacherSpec.model_fields["base_url"].description or "")
        self.model = QComboBox()
        self.model.setEditable(True)
        self.model.setToolTip(TeacherSpec.model_fields["model"].description or "")
        self.fetch_button = QPushButton("Fetch models")
        model_row = QHBoxLayout()
        model_row.addWidget(self.model, 1)
        model_row.addWidget(self.fetch_button)
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
        form.addRow("preset", self.preset)
        form.addRow("base URL", self.base_url)
        form.addRow("model", model_row)
        form.addRow("API key env var", self.key_env)
        form.addRow("", self.key_status)
        form.addRow("keyring", key_row)
        form.addRow(test_row)
        outer.addLayout(form)
        self.pool = EndpointsEditor()
        outer.addWidget(self.pool)
        self.more = ModelForm(
            TeacherSpec,
            "teacher",
            "More teacher settings",
            skip=("kind", "base_url", "model", "api_key_env", "endpoints", "batch"),
        )
        outer.addWidget(self.more)
        # recipe field -> the widget that shows it, for problems found by validation
        self.custom: dict[str, QWidget] = {
            "teacher.kind": self.preset,
            "teacher.base_url": self.base_url,
            "teacher.model": self.model,
            "teacher.api_key_env": self.key_env,
        }
        self.preset.currentTextChanged.connect(self._preset_changed)
        self.key_env.textChanged.connect(self.show_key_status)
        self.fetch_button.clicked.connect(self.fetch_models)
        self.test_button.clicked.connect(self.test_connection)
        self.keyring_save.clicked.connect(self._save_key)
        self.pool.changed.connect(self._pool_changed)
        self._preset_changed(self.preset.currentText())

    def _embedded(self) -> bool:
        return self.preset.currentText() in (EMBEDDED_PRESET, LAB_PRESET)

    def _preset_changed(self, preset: str) -> None:
        embedded = preset in (EMBEDDED_PRESET, LAB_PRESET)
        for w in (self.base_url, self.key_env, self.keyring_key, self.keyring_save, self.fetch_button):
            w.setEnabled(not embedded)
        self.base_url.setEnabled(not embedded and not self.pool.endpoints())
        if embedded:
            self.base_url.setText("")
            self.model.setCurrentText("lab" if preset == LAB_PRESET else "embedded")
        elif preset != "Custom URL":
            self.base_url.setText(endpoints().get(preset, ""))
            if preset == "OpenAI" and not self.key_env.text():
                self.key_env.setText("OPENAI_API_KEY")
            if self.model.currentText() == "embedded":
                self.model.setCurrentText("gpt-4o-mini" if preset == "OpenAI" else "")
        self.show_key_status()

    def _pool_changed(self) -> None:
        """A server pool replaces the single base URL (the recipe takes one or the other)."""
        self.base_url.setEnabled(not self._embedded() and not self.pool.endpoints())
        self.base_url.setToolTip(
            "the server pool below is used instead"
            if self.pool.endpoints()
            else TeacherSpec.model_fields["base_url"].description or ""
        )
        self.changed.emit()

    def show_key_status(self) -> None:
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

    def fetch_models(self) -> None:
        """List the endpoint's models, off the GUI thread (a dead host takes seconds)."""
        self.fetch_button.setEnabled(False)
        self.test_result.setText("Fetching the model list…")
        run_in_background(
            self, hooks.list_models, self.base_url.text(), self.api_key(), on_done=self._models_fetched
        )

    def _models_fetched(self, result: hooks.HookResult) -> None:
        self.fetch_button.setEnabled(True)
        if result.ok:
            current = self.model.currentText()
            self.model.clear()
            self.model.addItems(result.value)
            if current:
                self.model.setCurrentText(current)
        self.test_result.setText(result.text)

    def test_connection(self) -> None:
        """The capability probe, off the GUI thread (it may wait for a slow endpoint, or
        start the embedded llama.cpp server for the embedded preset)."""
        self.test_button.setEnabled(False)
        self.test_result.setText("Testing the connection…")
        if self.preset.currentText() == EMBEDDED_PRESET:
            run_in_background(
                self, hooks.probe_embedded, self.model.currentText() or "embedded", on_done=self._probed
            )
        elif self.preset.currentText() == LAB_PRESET:
            run_in_background(self, hooks.probe_lab, on_done=self._probed)
        else:
            run_in_background(
                self,
                hooks.probe_teacher,
                self.base_url.text(),
                self.model.currentText(),
                self.api_key(),
                on_done=self._probed,
            )

    def _probed(self, result: hooks.HookResult) -> None:
        self.test_button.setEnabled(True)
        self.test_result.setText(("✓ " if result.ok else "") + result.text)

    # -- recipe data ---------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        """The recipe's ``teacher`` mapping."""
        preset = self.preset.currentText()
        kind = {EMBEDDED_PRESET: "embedded", LAB_PRESET: "lab"}.get(preset, "openai")
        teacher: dict[str, Any] = {"kind": kind}
        if self.base_url.text().strip() and not self.pool.endpoints():
            teacher["base_url"] = self.base_url.text().strip()
        teacher["model"] = self.model.currentText().strip() or "embedded"
        if self.key_env.text().strip():
            teacher["api_key_env"] = self.key_env.text().strip()
        teacher.update(self.more.values())
        teacher.update(self.pool.values())
        return teacher

    def set_values(self, teacher: dict[str, Any]) -> None:
        if teacher.get("kind", "embedded") in ("embedded", "lab"):
            self.preset.setCurrentText(
                EMBEDDED_PRESET if teacher.get("kind", "embedded") == "embedded" else LAB_PRESET
            )
        elif teacher.get("endpoints"):  # a pool of servers instead of one base URL
            self.preset.setCurrentText("Custom URL")
            self.base_url.setText("")
        else:
            url = str(teacher.get("base_url") or "https://api.openai.com/v1")
            named = [n for n, u in endpoints().items() if u.rstrip("/") == url.rstrip("/")]
            self.preset.setCurrentText(named[0] if named else "Custom URL")
            self.base_url.setText(url)
        default_model = "lab" if teacher.get("kind") == "lab" else "embedded"
        self.model.setCurrentText(str(teacher.get("model", default_model)))
        self.key_env.setText(str(teacher.get("api_key_env") or ""))
        self.more.set_values(teacher)
        self.pool.set_values(teacher)


if __name__ == "__main__":
    from PySide6.QtWidgets import QApplication

    from gui.theme import apply_theme

    app = QApplication(sys.argv)
    apply_theme(app, "light")
    panel = TeacherPanel()
    panel.set_values({"kind": "openai", "base_url": "http://localhost:8000/v1", "model": "qwen"})
    panel.resize(900, 900)
    panel.show()
    sys.exit(app.exec())
