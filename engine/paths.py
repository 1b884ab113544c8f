"""Where Distillab keeps things: project folders, the user data dir, the default database.

``DISTILLAB_HOME`` overrides the user data dir (tests point it at a temp folder);
``DISTILLAB_DB`` overrides the default project database; ``DISTILLAB_MODELS`` the folder
of converted models.

Shipped files (recipes with their prompts, demo data, icons) are found in one of two
places. In a checkout (``pyproject.toml`` beside the ``engine`` package) they are the
checkout's ``recipes/`` and ``assets/``, so an edit there is live. In an installed wheel
they are package data, ``engine/_shipped/recipes`` and ``engine/_shipped/assets``
(``setup.py`` copies them there at build time), found through ``importlib.resources``.
Both keep ``recipes/`` and ``assets/`` side by side, so a recipe's ``../assets/demo/...``
path resolves in either.
"""

from __future__ import annotations

import importlib.resources
import os
import re
from pathlib import Path

import platformdirs

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The folder that holds the ``engine`` package: the checkout, or site-packages."""
SHIPPED_FOLDER = "_shipped"
"""Inside the installed ``engine`` package: the copies of ``recipes/`` and ``assets/``."""


def is_checkout() -> bool:
    """True when running from a source checkout (not from an installed wheel)."""
    return (PROJECT_ROOT / "pyproject.toml").is_file() and (PROJECT_ROOT / "recipes").is_dir()


def shipped_dir(name: str) -> Path:
    """``recipes`` or ``assets``: the checkout's folder, else the installed package data."""
    if is_checkout():
        return PROJECT_ROOT / name
    return Path(str(importlib.resources.files("engine") / SHIPPED_FOLDER / name))


RECIPES_DIR = shipped_dir("recipes")
ASSETS_DIR = shipped_dir("assets")


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
