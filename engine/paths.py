"""Where Distillab keeps things: project folders, the user data dir, the default database.

``DISTILLAB_HOME`` overrides the user data dir (tests point it at a temp folder);
``DISTILLAB_DB`` overrides the default project database; ``DISTILLAB_MODELS`` the folder
of converted models.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import platformdirs

PROJECT_ROOT = Path(__file__).resolve().parent.parent
RECIPES_DIR = PROJECT_ROOT / "recipes"
ASSETS_DIR = PROJECT_ROOT / "assets"


def data_dir() -> Path:
    """The user data dir: models converted once, default database, run files."""
    home = os.environ.get("DISTILLAB_HOME")
    path = Path(home) if home else Path(platformdirs.user_data_dir("distillab", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    """Converted models (``DISTILLAB_MODELS`` overrides; default inside the data dir)."""
    env = os.environ.get("DISTILLAB_MODELS")
    path = Path(env) if env else data_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_db() -> Path:
    env = os.environ.get("DISTILLAB_DB")
    return Path(env) if env else data_dir() / "distillab.db"


def run_dir(db_path: Path, run_id: int, create: bool = True) -> Path:
    """Folder for a run's large files (checkpoints, adapters, exports), beside the database."""
    path = db_path.resolve().parent / f"{db_path.stem}-files" / f"run-{run_id}"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def study_dir(db_path: Path, study_id: int, create: bool = True) -> Path:
    """Folder for a study's report and plots, beside the database."""
    path = db_path.resolve().parent / f"{db_path.stem}-files" / f"study-{study_id}"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def run_log_path(db_path: Path, run_id: int) -> Path:
    """A run's log file (its log, failure and end events, appended across resumes)."""
    return run_dir(db_path, run_id, create=False) / "run.log"


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(text: str) -> str:
    """Expand ``${VAR}`` and ``${VAR:-default}`` from the environment (shell style)."""
    return _VAR.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), text)
