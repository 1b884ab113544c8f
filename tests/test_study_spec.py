"""Study files: every shipped study validates; every problem is reported at once, with its
line and a fix; arms resolve to recipes with their overrides and the seed."""

from __future__ import annotations

import pytest

from engine.paths import RECIPES_DIR
from engine.studies.spec import StudyError, load_study, parse_study

from .conftest import smoke_recipe_text, write_jsonl

SHIPPED = sorted((RECIPES_DIR / "studies").glob("*.yaml"))


def test_there_are_shipped_studies():
    assert {p.name for p in SHIPPED} >= {"smoke.yaml", "explain-mbpp.yaml"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_study_validates(path):
    loaded = load_study(path)
    study = loaded.study
    assert len(loaded.runs) == len(study.arms) * len(study.seeds)
    assert path.read_text().startswith("#") and "distillab study run" in path.read_text()
    for arm_run in loaded.runs:
        assert arm_run.loaded.recipe.seed == arm_run.seed
        assert arm_run.loaded.recipe.name == f"{study.name}/{arm_run.arm}/seed{arm_run.seed}"


def _base(tmp_path, math_rows):
    data = write_jsonl(tmp_path / "d.jsonl", math_rows)
    (tmp_path / "base.yaml").write_text(smoke_recipe_text(data))
    return tmp_path / "base.yaml"


def test_arms_get_their_overrides_as_list_or_mapping_and_their_seed(tmp_path, math_rows):
    _base(tmp_path, math_rows)
    text = """schema_version: 1
name: s
base: base.yaml
seeds: [4, 5]
arms:
  - name: a
    set: [stages.check.noise=0.25]
  - name: b
    set: {stages.check.noise: 0.5, stages.echo.delay_s: 0.01}
"""
    loaded = parse_study(text, str(tmp_path / "s.yaml"), tmp_path)
    got = [(r.arm, r.seed, r.loaded.stage_params["check"].noise,
            r.loaded.stage_params["echo"].delay_s) for r in loaded.runs]
    assert got == [("a", 4, 0.25, 0.0), ("b", 4, 0.5, 0.01), ("a", 5, 0.25, 0.0),
                   ("b", 5, 0.5, 0.01)]
    assert loaded.runs[0].loaded.source == str(tmp_path / "base.yaml")
    # the default comparison: accuracy, every arm against the first
    assert loaded.study.pairs_of(loaded.study.comparisons[0]) == [("a", "b")]


def test_every_problem_is_reported_at_once_with_its_line_and_a_fix(tmp_path, math_rows):
    _base(tmp_path, math_rows)
    text = """schema_version: 1
name: s
base: base.yaml
seeds: [0, 0]
arms:
  - name: a
    set: {stages.check.noise: 3}
  - name: a
  - name: bad name
comparisons:
  - metric: accuracy
    pairs: [[a, nope]]
  - metric: f1
"""
    with pytest.raises(StudyError) as info:
        parse_study(text, "s.yaml", tmp_path)
    problems = info.value.problems
    # pydantic problems come first; the cross-checks need a valid model
    assert [(p.line, p.field) for p in problems] == [(9, "arms.2.name"),
                                                     (13, "comparisons.1.metric")]
    assert "letters, digits" in problems[0].message and "solve@K" in problems[1].message
    text = text.replace("name: bad name", "name: c").replace("metric: f1", "metric: solve@5")
    with pytest.raises(StudyError) as info:
        parse_study(text, "s.yaml", tmp_path)
    found = {(p.line, p.field): p for p in info.value.problems}
    assert set(found) == {(8, "arms.1.name"), (4, "seeds"), (12, "comparisons.0.pairs")}
    assert "used twice" in found[(8, "arms.1.name")].message
    assert "no arm named 'nope'" in found[(12, "comparisons.0.pairs")].message
    assert "the arms are: a, a, c" in found[(12, "comparisons.0.pairs")].fix
    text = text.replace("seeds: [0, 0]", "seeds: [0, 1]").replace("  - name: a\n  - name",
                                                                  "  - name: b\n  - name")
    text = text.replace("[[a, nope]]", "[[a, b]]")
    with pytest.raises(StudyError) as info:  # an arm's override breaks its recipe
        parse_study(text, "s.yaml", tmp_path)
    (p,) = info.value.problems  # once, not once per seed
    assert p.line == 7 and p.field == "arms.0.set (a): stages.check.noise"
    assert "less than or equal to 1" in p.message and "verdicts flipped" in p.fix
    assert str(info.value).startswith("1 problem in the study")


def test_base_recipe_problems_point_at_the_recipe_file(tmp_path):
    (tmp_path / "base.yaml").write_text("schema_version: 1\nname: r\nparadigm: smoke\n"
                                        "dataset: {path: d.jsonl}\nteacher: {colour: red}\n")
    text = "schema_version: 1\nname: s\nbase: base.yaml\narms: [{name: a}]\n"
    with pytest.raises(StudyError) as info:
        parse_study(text, "s.yaml", tmp_path)
    (p,) = info.value.problems
    assert p.file.endswith("base.yaml") and p.line == 5 and p.field == "teacher.colour"
    missing = "schema_version: 1\nname: s\nbase: gone.yaml\narms: [{name: a}]\n"
    with pytest.raises(StudyError, match="recipe file not found"):
        parse_study(missing, "s.yaml", tmp_path)
    with pytest.raises(StudyError, match=r"s.yaml:2: not valid YAML"):
        parse_study("a: [\nb", "s.yaml", tmp_path)


def test_an_inline_base_recipe_resolves_paths_from_the_study_folder(tmp_path, math_rows):
    write_jsonl(tmp_path / "d.jsonl", math_rows)
    text = """schema_version: 1
name: inline
base_recipe:
  schema_version: 1
  name: r
  paradigm: smoke
  dataset: {path: d.jsonl}
  teacher: {concurrency: 0}
arms: [{name: only}]
"""
    with pytest.raises(StudyError) as info:
        parse_study(text, "s.yaml", tmp_path)
    (p,) = info.value.problems
    assert p.field == "base_recipe.teacher.concurrency" and p.line == 8
    loaded = parse_study(text.replace("concurrency: 0", "concurrency: 2"), "s.yaml", tmp_path)
    assert loaded.runs[0].loaded.base_dir == tmp_path
