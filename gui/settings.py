"""Application settings (QSettings) and the Settings view: data directory, default
endpoints, price table file, theme; also the recent-projects list the File menu shows.

Settings are per user, never per project; API keys are never stored here (a recipe
names an environment variable, or the key lives in the system keyring).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from PySide6.QtCore import QSettings, Signal
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

from engine.paths import data_dir

MAX_RECENT = 8
DEFAULT_ENDPOINTS = {
    "OpenAI": "https://api.openai.com/v1",
    "vLLM": "http://localhost:8000/v1",
    "Ollama": "http://localhost:11434/v1",
    "llama.cpp server": "http://localhost:8080/v1",
    "LM Studio": "http://localhost:1234/v1",
}


def app_settings() -> QSettings:
    """The one settings store (an INI file under the data dir, so tests stay isolated)."""
    return QSettings(str(data_dir() / "gui.ini"), QSettings.Format.IniFormat)


def recent_projects() -> list[Path]:
    raw = app_settings().value("recent", "[]")
    try:
        paths = [Path(p) for p in json.loads(str(raw))]
    except (ValueError, TypeError):
        paths = []
    return [p for p in paths if p.exists()][:MAX_RECENT]


def add_recent(path: Path) -> None:
    paths = [str(path.resolve())] + [str(p) for p in recent_projects() if p.resolve() != path.resolve()]
    app_settings().setValue("recent", json.dumps(paths[:MAX_RECENT]))


def endpoints() -> dict[str, str]:
    raw = app_settings().value("endpoints", "")
    try:
        saved = json.loads(str(raw)) if raw else {}
    except ValueError:
        saved = {}
    return {**DEFAULT_ENDPOINTS, **saved}


def theme() -> str:
    return str(app_settings().value("theme", "light"))


class SettingsView(QWidget):
    """Edits the app settings; saves on every change."""

    theme_changed = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.settings = app_settings()
        layout = QVBoxLayout(self)
        title = QLabel("Settings")
        title.setObjectName("title")
        layout.addWidget(title)

        general = QGroupBox("General")
        form = QFormLayout(general)
        self.data_dir = QLineEdit(str(self.settings.value("data_dir", str(data_dir()))))
        self.data_dir.setToolTip("Where new projects, converted models and run files go.")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._pick_dir)
        row = QHBoxLayout()
        row.addWidget(self.data_dir)
        row.addWidget(browse)
        form.addRow("Data directory", row)
        self.prices = QLineEdit(str(self.settings.value("price_table", "")))
        apply_price_table(self.prices.text())
        self.prices.setPlaceholderText("default: prices.json in the data directory")
        self.prices.setToolTip('A JSON file: {"model": {"input": USD per million tokens, '
                               '"output": USD per million tokens}}; it overrides the built-in '
                               "table for costs and budgets of jobs started from now on.")
        pick = QPushButton("Browse…")
        pick.clicked.connect(self._pick_prices)
        row2 = QHBoxLayout()
        row2.addWidget(self.prices)
        row2.addWidget(pick)
        form.addRow("Price table", row2)
        self.theme = QComboBox()
        self.theme.addItems(["light", "dark"])
        self.theme.setCurrentText(theme())
        form.addRow("Theme", self.theme)
        layout.addWidget(general)

        box = QGroupBox("Default endpoints (OpenAI-compatible)")
        eform = QFormLayout(box)
        self.endpoint_edits: dict[str, QLineEdit] = {}
        for name, url in endpoints().items():
            edit = QLineEdit(url)
            edit.setToolTip(f"Base URL the Setup view proposes for {name}.")
            edit.editingFinished.connect(self._save)
            self.endpoint_edits[name] = edit
            eform.addRow(name, edit)
        layout.addWidget(box)
        note = QLabel("API keys are never stored here: recipes name an environment variable, "
                      "or Setup saves the key in the system keyring.")
        note.setObjectName("muted")
        note.setWordWrap(True)
        layout.addWidget(note)
        layout.addStretch(1)
        self.data_dir.editingFinished.connect(self._save)
        self.prices.editingFinished.connect(self._save)
        self.theme.currentTextChanged.connect(self._theme)

    def _pick_dir(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Data directory", self.data_dir.text())
        if folder:
            self.data_dir.setText(folder)
            self._save()

    def _pick_prices(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Price table", "", "Tables (*.yaml *.yml *.json)")
        if path:
            self.prices.setText(path)
            self._save()

    def _theme(self, name: str) -> None:
        self._save()
        self.theme_changed.emit(name)

    def _save(self) -> None:
        s = self.settings
        s.setValue("data_dir", self.data_dir.text())
        s.setValue("price_table", self.prices.text())
        apply_price_table(self.prices.text())
        s.setValue("theme", self.theme.currentText())
        s.setValue("endpoints", json.dumps({k: e.text() for k, e in self.endpoint_edits.items()}))
        s.sync()


def apply_price_table(path: str) -> None:
    """Jobs read the price table named by DISTILLAB_PRICES; worker processes inherit it."""
    if path.strip():
        os.environ["DISTILLAB_PRICES"] = path.strip()
    else:
        os.environ.pop("DISTILLAB_PRICES", None)


if __name__ == "__main__":
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    view = SettingsView()
    view.resize(700, 500)
    view.show()
    sys.exit(app.exec())
