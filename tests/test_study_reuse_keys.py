"""Study reuse keys follow every parameter a stage reads, of other stages too.

A stage's reuse key chains the key before it, its own parameters, the recipe sections it
reads and the later stages' parameters it declares in ``StageSpec.reads_params``. Three
guards keep that sound without running a stage:

- the source of every stage (tests/param_reads.py, a static walk that over-approximates)
  reads no later stage's parameter and no recipe section it does not declare;
- for every shipped recipe, perturbing each leaf parameter of every stage and of every
  recipe section changes exactly the keys that should change (and leaves the others alone,
  so a study still reuses what it may);
- at run time, ``blocks.stage_params`` refuses an undeclared read of a later stage.
"""

from __future__ import annotations

import dataclasses
import re
from types import SimpleNamespace
from typing import Any

import pytest

from engine import runner
from engine.data import load_dataset
from engine.paradigms import PARADIGMS, StageSpec
from engine.paradigms import blocks as B
from engine.paradigms.cot import params as CP
from engine.stage import StageContext, UndeclaredRead
from engine.store import Store, runs
from engine.studies import reuse
from engine.validate import load_recipe, parse_recipe

from .conftest import ROOT, write_jsonl
from .param_reads import stage_reads

RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))


def _covered(read: str, declared: tuple[str, ...]) -> bool:
    return any(read == d or read.startswith(d + ".") for d in declared)


def _earlier(stages: tuple[StageSpec, ...], stage: str, than: str) -> bool:
    names = [s.name for s in stages]
    return names.index(stage) <= names.index(than)


@pytest.mark.parametrize("paradigm", sorted(PARADIGMS))
def test_every_read_of_a_later_stage_or_a_section_is_declared(paradigm):
    stages = PARADIGMS[paradigm].stages
    missing = []
    for spec in stages:
        reads, sections = stage_reads(paradigm, spec.run.__name__)
        assert spec.run.__name__, spec.name
        for read in sorted(reads):
            if not _earlier(stages, read.split(".")[0], spec.name) and \
                    not _covered(read, spec.reads_params):
                missing.append(f"{spec.name} reads {read}: add it to its reads_params")
        if spec.reads is not None:
            for section in sorted(sections - set(spec.reads)):
                missing.append(f"{spec.name} reads recipe section {section}: add it to reads")
    assert not missing, "\n".join(missing)


def test_the_source_walk_finds_reads_through_helpers_aliases_and_callbacks():
    # cot's baseline reads train.template through student_messages, passed as a callback
    reads, sections = stage_reads("cot", "baseline")
    assert {"train.template", "evaluate.task", "evaluate.batch_size"} <= reads
    assert "evaluation" in sections
    # reer's filter reads a later stage through an alias (p = stage_params(...); p.x)
    reads, _ = stage_reads("reer", "train")
    assert any(r.startswith("filter.") for r in reads)
    assert stage_reads("smoke", "summary") == (set(), set())


def test_no_paradigm_reads_stage_parameters_around_stage_params():
    pattern = re.compile(r"stage_params\[|params_of_stage\(|recipe\.stages\b")
    offenders = []
    for path in sorted((ROOT / "engine" / "paradigms").rglob("*.py")):
        if path.name == "__init__.py" and path.parent.name == "paradigms":
            continue  # check_stages builds the table
        for no, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line) and "def stage_params" not in line and \
                    "ctx.params_of_stage(stage)" not in line and \
                    "ctx.loaded.stage_params[stage], kind" not in line:
                offenders.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()}")
    assert not offenders, "read other stages' parameters only through blocks.stage_params " \
        "with a literal stage name, so the audit sees it:\n" + "\n".join(offenders)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_declared_reads_name_parameters_of_later_stages(recipe):
    loaded = load_recipe(recipe)
    stages = PARADIGMS[loaded.recipe.paradigm].stages
    for spec in stages:
        for path in spec.reads_params:
            reuse.param_value(loaded, path)  # raises on a path the parameters lack
            assert not _earlier(stages, path.split(".")[0], spec.name), \
                f"{spec.name}: {path} is an earlier stage's, in the key already"


# -- perturbing every leaf -------------------------------------------------------------------


class _Dumped:
    """Stands in for a parameter model or recipe section: dumps a given JSON value."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def model_dump(self, mode: str = "json", exclude: set[str] | None = None) -> Any:
        return {k: v for k, v in self.value.items() if k not in (exclude or set())}


def _leaves(value: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(value, dict) and value:
        return [leaf for k, v in value.items() for leaf in _leaves(v, (*path, k))]
    return [path]


def _changed(value: Any, path: tuple[str, ...]) -> Any:
    if not path:
        if isinstance(value, bool):
            return not value
        if isinstance(value, int | float):
            return value + 1
        if isinstance(value, list):
            return [*value, "perturbed"]
        if isinstance(value, dict):
            return {"perturbed": 1}
        return f"{value}-perturbed"
    return {**value, path[0]: _changed(value[path[0]], path[1:])}


def _keys(loaded, params: dict[str, Any], sections: dict[str, Any], seed: int,
          data: str) -> dict[str, str]:
    fake = SimpleNamespace(paradigm=loaded.recipe.paradigm, seed=seed,
                           **{name: _Dumped(value) for name, value in sections.items()})
    view = dataclasses.replace(loaded, recipe=fake,
                               stage_params={n: _Dumped(v) for n, v in params.items()})
    return reuse.stage_keys(view, PARADIGMS[loaded.recipe.paradigm].stages, data)


def _expected(stages: tuple[StageSpec, ...], stage: str, changed: str) -> bool:
    """Whether ``stage``'s key should follow a change of ``changed``: a parameter path
    ``"<stage>.<field>..."`` or a section ``"section:<name>"``."""
    for spec in stages:  # the stage and every one before it (keys chain)
        if changed.startswith("section:"):
            if spec.reads is None or changed.split(":")[1] in spec.reads:
                return True
        elif spec.name == changed.split(".")[0] or _covered(changed, spec.reads_params):
            return True
        if spec.name == stage:
            return False
    raise AssertionError(stage)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_a_change_of_any_parameter_changes_exactly_the_keys_that_read_it(recipe):
    loaded = load_recipe(recipe)
    stages = PARADIGMS[loaded.recipe.paradigm].stages
    params = {n: p.model_dump(mode="json") for n, p in loaded.stage_params.items()}
    sections = {n: reuse._section(loaded, n, "") for n in ("teacher", "student", "training",
                                                             "evaluation")}
    base = _keys(loaded, params, sections, loaded.recipe.seed, "data")
    checked = 0
    wrong = []
    for name, value in params.items():
        for leaf in _leaves(value):
            if not leaf:
                continue
            after = _keys(loaded, {**params, name: _changed(value, leaf)}, sections,
                          loaded.recipe.seed, "data")
            path = ".".join((name, *leaf))
            for spec in stages:
                checked += 1
                if (after[spec.name] != base[spec.name]) != _expected(stages, spec.name, path):
                    wrong.append(f"{spec.name} after a change of {path}")
    for name, value in sections.items():
        for leaf in _leaves(value):
            after = _keys(loaded, params, {**sections, name: _changed(value, leaf)},
                          loaded.recipe.seed, "data")
            for spec in stages:
                checked += 1
                if (after[spec.name] != base[spec.name]) != \
                        _expected(stages, spec.name, f"section:{name}"):
                    wrong.append(f"{spec.name} after a change of {name}.{'.'.join(leaf)}")
    for section, after in (("seed", _keys(loaded, params, sections, loaded.recipe.seed + 1,
                                          "data")),
                           ("dataset", _keys(loaded, params, sections, loaded.recipe.seed,
                                             "other data"))):
        for spec in stages:
            checked += 1
            if (after[spec.name] != base[spec.name]) != \
                    _expected(stages, spec.name, f"section:{section}"):
                wrong.append(f"{spec.name} after a change of {section}")
    assert checked > 20 and not wrong, "\n".join(wrong)


def test_keys_of_stages_that_read_no_later_stage_keep_their_formula(tmp_path):
    loaded = load_recipe(ROOT / "recipes" / "cot-demo.yaml")
    keys = reuse.stage_keys(loaded, PARADIGMS["cot"].stages, "data")
    params = loaded.stage_params["train"].model_dump(mode="json")
    files: dict[str, str] = {}
    reuse._named_files(params, loaded.base_dir, files)
    old = reuse._digest({"previous": keys["solve"], "stage": "train", "params": params,
                         "files": files, "sections": {n: reuse._section(loaded, n, "data")
                                                      for n in reuse.SECTIONS}})
    assert keys["train"] == old  # runs before reads_params reuse these stages as before


def test_a_later_stage_template_file_counts_by_its_content(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", [{"question": "q", "answer": "1"}])
    (tmp_path / "t.j2").write_text("Q: {{ question }}")
    text = (f"schema_version: 1\nname: k\nparadigm: cot\ndataset: {{path: {data}}}\n"
            "stages: {train: {template: t.j2}}\n")
    before = reuse.stage_keys(parse_recipe(text, "r.yaml", tmp_path), PARADIGMS["cot"].stages,
                              "h")
    (tmp_path / "t.j2").write_text("Question: {{ question }}")
    after = reuse.stage_keys(parse_recipe(text, "r.yaml", tmp_path), PARADIGMS["cot"].stages,
                             "h")
    assert after["baseline"] != before["baseline"]  # its prompt comes from train's template
    lr = text.replace("{template: t.j2}", "{template: t.j2, max_rows: 9}")
    assert reuse.stage_keys(parse_recipe(lr, "r.yaml", tmp_path), PARADIGMS["cot"].stages,
                            "h")["baseline"] == after["baseline"]  # train's max_rows: reused


def test_at_run_time_an_undeclared_read_of_a_later_stage_is_refused(tmp_path, db_path):
    data = write_jsonl(tmp_path / "d.jsonl", [{"question": f"q{i}", "answer": str(i)}
                                              for i in range(8)])
    loaded = parse_recipe(f"schema_version: 1\nname: k\nparadigm: cot\n"
                          f"dataset: {{path: {data}}}\n", "r.yaml", tmp_path)
    store = Store(db_path)
    run_id = runner.create(store, loaded)
    dataset_id = load_dataset(store, loaded.recipe.dataset, loaded.recipe.seed, tmp_path)
    runs.set_run(store, run_id, dataset_id=dataset_id)

    def context(stage: str) -> StageContext:
        spec = next(s for s in PARADIGMS["cot"].stages if s.name == stage)
        return StageContext(store=store, run_id=run_id, loaded=loaded, spec=spec,
                            dataset_id=dataset_id, emit=lambda e: None,
                            cancelled=lambda: False)

    baseline = context("baseline")
    assert B.stage_params(baseline, "train", CP.TrainParams).template  # declared
    with pytest.raises(UndeclaredRead, match=r"train\.max_rows.*reads_params"):
        _ = B.stage_params(baseline, "train", CP.TrainParams).max_rows
    evaluate = context("evaluate")  # an earlier stage's parameters are all in its key
    assert B.stage_params(evaluate, "train", CP.TrainParams).max_rows is None
    assert B.stage_params(evaluate, "baseline", CP.BaselineParams) is \
        loaded.stage_params["baseline"]
    store.close()


def test_the_source_walk_counts_a_context_handed_to_unknown_code_as_reading_everything(
        tmp_path, monkeypatch):
    from tests import param_reads

    package = tmp_path / "toy"
    package.mkdir()
    (package / "stages.py").write_text(
        "from elsewhere import helper\n\n"
        "def first(ctx):\n    return helper(ctx)\n\n"
        "def second(ctx):\n    return ctx.recipe.seed + stage_params(ctx, 'first', P).n\n")
    monkeypatch.setattr(param_reads, "PARADIGMS_DIR", tmp_path)
    (tmp_path / "blocks.py").write_text("")
    assert param_reads.stage_reads("toy", "first") == (set(), {"*"})
    assert param_reads.stage_reads("toy", "second") == ({"first.n"}, {"seed"})


def test_at_run_time_a_stage_that_narrows_its_sections_sees_only_those(tmp_path, db_path):
    data = write_jsonl(tmp_path / "d.jsonl", [{"question": "q", "solution": "1"}])
    loaded = parse_recipe(f"schema_version: 1\nname: k\nparadigm: smoke\nseed: 3\n"
                          f"dataset: {{path: {data}}}\n", "r.yaml", tmp_path)
    store = Store(db_path)
    run_id = runner.create(store, loaded)
    check = next(s for s in PARADIGMS["smoke"].stages if s.name == "check")
    ctx = StageContext(store=store, run_id=run_id, loaded=loaded, spec=check, dataset_id=None,
                       emit=lambda e: None, cancelled=lambda: False)
    assert ctx.recipe.seed == 3 and ctx.recipe.paradigm == "smoke"  # declared; not a section
    with pytest.raises(UndeclaredRead, match=r"evaluation section.*StageSpec\.reads"):
        _ = ctx.recipe.evaluation
    store.close()
