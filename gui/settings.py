"""Application settings (QSettings) and the Settings view: the data folder (where new
projects go), default endpoints, price table file, theme, the name step labels are stored
under; and the recent-projects list,
shown in the File menu and in the Settings view (double-click opens one).

Settings are per user, never per project; API keys are never stored here (a recipe
names an environment variable, or the key lives in the system keyring).
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
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


def projects_dir() -> Path:
    """Where new projects go: the Settings' data folder, else the user data dir."""
    chosen = str(app_settings().value("data_dir", "") or "").strip()
    return Path(chosen).expanduser() if chosen else data_dir()


def new_project_path(name: str) -> Path:
    """A new project's database: a bare name goes into ``projects_dir()``; '.db' added."""
    path = Path(name).expanduser()
    if not path.is_absolute():
        path = projects_dir() / path
    return path if path.suffix == ".db" else path.with_name(path.name + ".db")


def default_project(fallback: Path) -> Path:
    """The project the app opens without --db: ``DISTILLAB_DB`` if set, else distillab.db
    in the Settings' data folder when one is chosen, else ``fallback``."""
    chosen = str(app_settings().value("data_dir", "") or "").strip()
    if os.environ.get("DISTILLAB_DB") or not chosen:
        return fallback
    return Path(chosen).expanduser() / "distillab.db"


def check_folder(text: str) -> str | None:
    """None when ``text`` names a folder new projects can be written to (created if
    missing), else what is wrong with it."""
    if not text.strip():
        return None  # empty: the default data dir
    folder = Path(text.strip()).expanduser()
    if not folder.is_absolute():
        return f"{text!r} is not an absolute path; pick a folder with Browse…"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot create {folder}: {exc.strerror or exc}"
    if not os.access(folder, os.W_OK):
        return f"{folder} is not writable; pick another folder"
    return None


def endpoints() -> dict[str, str]:
    raw = app_settings().value("endpoints", "")
    try:
        saved = json.loads(str(raw)) if raw else {}
    except ValueError:
        saved = {}
    return {**DEFAULT_ENDPOINTS, **saved}


def label_author() -> str:
    """The name step labels are stored under (``human:<name>``); the login name by default."""
    saved = str(app_settings().value("label_author", "") or "").strip()
    return saved or getpass.getuser()


def theme() -> str:
    return str(app_settings().value("theme", "light"))


class SettingsView(QWidget):
    """Edits the app settings; saves on every change."""

    theme_changed = Signal(str)
    open_requested = Signal(Path)  # a recent project, double-clicked

    def __init__(self) -> None:
        super().__init__()
        self.settings = app_settings()
        layout = QVBoxLayout(self)
        title = QLabel("Settings")
        title.setObjectName("title")
        layout.addWidget(title)

        general = QGroupBox("General")
        form = QFormLayout(general)
        self.data_dir = QLineEdit(str(self.settings.value("data_dir", "") or ""))
        self.data_dir.setPlaceholderText(f"default: {data_dir()}")
        self.data_dir.setToolTip(
            "Where new projects go: File ▸ New project starts here, a bare name is created "
            "here, and without --db the app opens distillab.db in this folder. A project's "
            "run files go beside its database. Converted models and these settings stay in "
            f"{data_dir()}.")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._pick_dir)
        row = QHBoxLayout()
        row.addWidget(self.data_dir)
        row.addWidget(browse)
        form.addRow("Data folder", row)
        self.data_dir_problem = QLabel()
        self.data_dir_problem.setObjectName("muted")
        self.data_dir_problem.setWordWrap(True)
        self.data_dir_problem.hide()
        form.addRow("", self.data_dir_problem)
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
        self.author = QLineEdit(label_author())
        self.author.setToolTip("Your step labels in Traces are stored as human:<this name>, "
                               "with the time, beside the teacher's verdict.")
        form.addRow("Your name (labels)", self.author)
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
        recent_box = QGroupBox("Recent projects (double-click to open)")
        rv = QVBoxLayout(recent_box)
        self.recent = QListWidget()
        self.recent.setMaximumHeight(140)
        self.recent.itemActivated.connect(self._open_recent)
        rv.addWidget(self.recent)
        layout.addWidget(recent_box)
        self.fill_recent()
        note = QLabel("API keys are never stored here: recipes name an environment variable, "
                      "or Setup saves the key in the system keyring.")
        note.setObjectName("muted")
        note.setWordWrap(True)
        layout.addWidget(note)
        layout.addStretch(1)
        self.data_dir.editingFinished.connect(self._save)
        self.prices.editingFinished.connect(self._save)
        self.author.editingFinished.connect(self._save)
        self.theme.currentTextChanged.connect(self._theme)

    def fill_recent(self) -> None:
        self.recent.clear()
        for path in recent_projects():
            entry = QListWidgetItem(f"{path.name}    {path.parent}")
            entry.setData(Qt.ItemDataRole.UserRole, str(path))
            entry.setToolTip(str(path))
            self.recent.addItem(entry)

    def _open_recent(self, entry: QListWidgetItem) -> None:
        self.open_requested.emit(Path(str(entry.data(Qt.ItemDataRole.UserRole))))

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
        problem = check_folder(self.data_dir.text())
        self.data_dir.setProperty("invalid", problem is not None)
        self.data_dir.style().polish(self.data_dir)
        self.data_dir_problem.setText(f"✗ {problem}; new projects still go to "
                                      f"{projects_dir()}" if problem else "")
        self.data_dir_problem.setVisible(problem is not None)
        if problem is None:
            s.setValue("data_dir", self.data_dir.text().strip())
        s.setValue("price_table", self.prices.text())
        apply_price_table(self.prices.text())
        s.setValue("theme", self.theme.currentText())
        s.setValue("label_author", self.author.text().strip())
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
