"""Build hook: the wheel carries the checkout's ``recipes/`` and ``assets/`` as package data.

They stay at the top of the checkout (recipes name ``../assets/demo/...``, prompts sit in
``recipes/prompts/<paradigm>/``); at build time every file under them, by glob, is copied to
``engine/_shipped/recipes`` and ``engine/_shipped/assets`` in the build folder, where
``engine.paths`` finds them through ``importlib.resources``. Everything else is in
pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
SHIPPED = ("recipes", "assets")
SKIP = {"__pycache__", ".DS_Store"}


def shipped_files() -> list[Path]:
    """Every file under recipes/ and assets/ (new paradigms' recipes and prompts included)."""
    return sorted(p for name in SHIPPED for p in (HERE / name).rglob("*")
                  if p.is_file() and not SKIP & set(p.parts) and p.suffix not in {".pyc", ".db"})


class BuildPyWithShipped(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads the checkout
            return
        target = Path(self.build_lib) / "engine" / "_shipped"
        for src in shipped_files():
            dest = target / src.relative_to(HERE)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)


setup(cmdclass={"build_py": BuildPyWithShipped})
