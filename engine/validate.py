"""Whole-recipe validation: the recipe's own models plus each stage's parameters.

``engine.recipes`` knows the recipe models and YAML; ``engine.paradigms`` knows the
paradigm table and checks stage parameters against it. This module joins the two, so
neither imports the other in a circle. ``distillab validate``, the runner and the GUI's
Validate button all call ``load_recipe`` / ``parse_recipe`` from here; every problem is
collected before ``RecipeError`` is raised.
"""

from __future__ import annotations

from pathlib import Path

from engine.paradigms import check_stages
from engine.recipes import LoadedRecipe, RecipeError, check_recipe, read_document, read_recipe_text


def parse_recipe(text: str, source: str = "<recipe>", base_dir: Path | None = None) -> LoadedRecipe:
    """Validate recipe text; raise RecipeError with every problem found."""
    data, root = read_document(text, source)
    recipe, problems = check_recipe(data, root, source)
    stage_params, stage_problems = check_stages(data, root, source)
    problems += stage_problems
    if problems or recipe is None:
        raise RecipeError(problems)
    return LoadedRecipe(recipe, text, source, base_dir, stage_params)


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> LoadedRecipe:
    """Read and validate a recipe file, with optional ``key.path=value`` overrides."""
    text = read_recipe_text(path, overrides)
    return parse_recipe(text, str(path), Path(path).resolve().parent)
