"""Prompt templates: Jinja2 files next to a recipe, so a user can read and edit every prompt.

A template name in a recipe (e.g. ``prompts/explain/explainer.j2``) is resolved relative to
the recipe's folder, then to the shipped ``recipes/`` folder. Undefined variables are errors:
a typo in a template fails loudly instead of sending an empty prompt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from engine.errors import DistillabError
from engine.paths import RECIPES_DIR


def find_template(name: str, base_dir: Path | None) -> Path:
    for folder in (base_dir, RECIPES_DIR):
        if folder is not None and (folder / name).is_file():
            return folder / name
    raise DistillabError(f"prompt template {name!r} not found",
                         f"put it next to the recipe ({base_dir}) or in {RECIPES_DIR}")


def render(name: str, base_dir: Path | None, **values: Any) -> str:
    """Render a template file with ``values``; returns the prompt text."""
    path = find_template(name, base_dir)
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False,
                             autoescape=False)
    try:
        return env.from_string(path.read_text(encoding="utf-8")).render(**values).strip()
    except jinja2.TemplateError as exc:
        raise DistillabError(f"prompt template {path}: {exc}",
                             "fix the template; the variables available are: "
                             + ", ".join(sorted(values))) from None
