"""Recipes: every shipped recipe validates; a broken one reports all problems with lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.paths import RECIPES_DIR
from engine.recipes import RecipeError
from engine.validate import load_recipe, parse_recipe

SHIPPED = sorted(RECIPES_DIR.glob("*.yaml"))


def test_there_are_shipped_recipes():
    assert any(p.name == "smoke.yaml" for p in SHIPPED)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_recipe_validates(path: Path):
    loaded = load_recipe(path)
    assert loaded.recipe.schema_version == 1
    assert loaded.stage_params  # every stage has resolved parameters
    lines = path.read_text().splitlines()
    header = lines[: next(i for i, line in enumerate(lines) if not line.startswith("#"))]
    assert any("distillab run" in line for line in header), "header comment must give the command"


BROKEN = """\
schema_version: 1
name: broken
paradigm: smoke
dataset:
  path: data.jsonl
  split: {train: 0.5, test: 0.2}
teacher:
  concurrency: 0
  api_key_env: sk-abc123def456
  colour: blue
student:
  quantization: nf3
stages:
  echo:
    delay_s: -1
  polish: {}
"""


def test_a_broken_recipe_reports_every_problem_with_its_line():
    with pytest.raises(RecipeError) as info:
        parse_recipe(BROKEN, "broken.yaml")
    found = {(p.field, p.line) for p in info.value.problems}
    assert ("dataset.split", 6) in found  # split fractions add up to 0.7
    assert ("teacher.concurrency", 8) in found
    assert ("teacher.api_key_env", 9) in found
    assert ("teacher.colour", 10) in found
    assert ("student.quantization", 12) in found
    assert ("stages.echo.delay_s", 15) in found
    assert ("stages.polish", 16) in found
    text = str(info.value)
    assert "broken.yaml:8: teacher.concurrency" in text
    assert "add up to 1" in text
    assert "never the key itself" in text
    assert "allowed here:" in text and "concurrency" in text  # the fix for a typo'd key
    assert "its stages are: echo, check, summary" in text


def test_missing_required_fields_say_what_to_add():
    with pytest.raises(RecipeError) as info:
        parse_recipe("schema_version: 1\nparadigm: smoke\n", "r.yaml")
    fields = {p.field: p for p in info.value.problems}
    assert {"name", "dataset"} <= set(fields)
    assert fields["dataset"].fix.startswith("add `dataset:`")


def test_unknown_paradigm_and_schema_version():
    with pytest.raises(RecipeError) as info:
        parse_recipe("schema_version: 9\nname: x\nparadigm: nope\ndataset: {path: a.jsonl}\n")
    text = str(info.value)
    assert "unknown paradigm 'nope'" in text and "smoke" in text
    assert "schema_version 9 is not supported" in text


def test_yaml_syntax_error_has_a_line():
    with pytest.raises(RecipeError) as info:
        parse_recipe("name: x\nstages: [a, b\nfoo: 1\n", "bad.yaml")
    problem = info.value.problems[0]
    assert problem.line is not None and problem.line >= 2
    assert "not valid YAML" in problem.message


def test_defaults_fill_in_and_stage_params_resolve(tmp_path):
    loaded = parse_recipe("schema_version: 1\nname: x\nparadigm: smoke\n"
                          "dataset: {path: a.jsonl}\nstages: {echo: {delay_s: 0.5}}\n")
    assert loaded.recipe.teacher.kind == "embedded"
    assert loaded.recipe.student.quantization == "nf4"
    assert loaded.stage_params["echo"].delay_s == 0.5
    assert loaded.stage_params["check"].answer_field == "answer"


def test_unreadable_recipe_file(tmp_path):
    with pytest.raises(RecipeError, match="cannot read the recipe"):
        load_recipe(tmp_path / "missing.yaml")
