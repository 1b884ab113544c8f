"""Study files: arms x seeds over a base recipe, and the comparisons to report.

A study is YAML validated by the pydantic models below; like a recipe, every problem is
reported at once with file:line, field and fix. ``load_study`` / ``parse_study`` return a
``LoadedStudy``: the study, and for every arm and seed the validated recipe that run will
use (the base recipe or the arm's own, the arm's ``--set``-style overrides, the seed).
The field descriptions double as help text. Knows nothing of the store.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from engine.recipes import LoadedRecipe, Problem, RecipeError, apply_overrides
from engine.recipes import line_of as _line_of
from engine.recipes import problems_from as _problems
from engine.validate import load_recipe, parse_recipe

SCHEMA_VERSION = 1

# Cost axes: what one arm spends (see engine/studies/costs.py for how each is measured).
AXES: dict[str, str] = {
    "teacher_tokens_in": "teacher prompt tokens",
    "teacher_tokens_out": "teacher completion tokens",
    "teacher_tokens": "teacher tokens (in + out)",
    "teacher_usd": "teacher cost (USD)",
    "student_gen_tokens": "student generation tokens",
    "student_score_tokens": "student scoring tokens",
    "train_tokens": "training tokens",
    "compute_tokens": "all tokens (teacher + student + training)",
    "wall_s": "wall time (s)",
}
Axis = Literal["teacher_tokens_in", "teacher_tokens_out", "teacher_tokens", "teacher_usd",
               "student_gen_tokens", "student_score_tokens", "train_tokens", "compute_tokens",
               "wall_s"]
DEFAULT_AXES: list[Axis] = ["teacher_tokens", "teacher_usd", "student_gen_tokens",
                            "student_score_tokens", "train_tokens", "wall_s"]

_ARM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_METRIC = re.compile(r"^(accuracy|score|(solve|pass)@[1-9][0-9]*|metric:.+)$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class ArmSpec(_Model):
    """One arm: a name, and what differs from the base recipe."""

    name: str = Field(..., description="A short name: letters, digits and _ . + - "
                      "(e.g. explain, solve-based, 5x2).")
    description: str = Field("", description="What this arm is.")
    recipe: str | None = Field(None, description="This arm's own recipe, relative to the "
                               "study file (default: the study's base recipe).")
    set: list[str] | dict[str, Any] = Field(
        default_factory=list, description="Overrides as for `distillab run --set`: a list of "
        "key.path=value, or a mapping {key.path: value}, e.g. {stages.plan.plans: 5}.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _ARM_NAME.match(value):
            raise ValueError(f"arm name {value!r} must start with a letter or digit and hold "
                             "only letters, digits and _ . + -")
        return value

    def overrides(self) -> list[str]:
        """The overrides as key=value strings (values as JSON, which YAML reads back)."""
        if isinstance(self.set, dict):
            return [f"{key}={json.dumps(value)}" for key, value in self.set.items()]
        return list(self.set)


class EqualBudget(_Model):
    """Check that the arms spent about the same on one cost axis (e.g. LEMA's token budget)."""

    axis: Axis = Field(..., description="The cost axis that should be equal across arms.")
    tolerance: float = Field(0.1, ge=0, description="Allowed relative distance from the "
                             "median arm (0.1 = 10%).")


class ComparisonSpec(_Model):
    """One question: a metric, which arm pairs to compare, against which costs."""

    name: str | None = Field(None, description="A label for tables and plots (default: the "
                             "metric).")
    metric: str = Field("accuracy", description="accuracy (an item's pass rate over its "
                        "samples), solve@K or pass@K (an item's P_i from its samples), score "
                        "(an item's mean evaluation score), or metric:NAME (a run-level metric, "
                        "one value per seed).")
    stage: str | None = Field(None, description="The evaluating stage to read (default: the "
                              "last stage of the run that stored evaluations).")
    pairs: Literal["baseline", "all"] | list[list[str]] = Field(
        "baseline", description="baseline: every arm against the baseline; all: every pair; "
        "or a list of [arm, arm] pairs (the difference is second minus first).")
    baseline: str | None = Field(None, description="The arm the others are compared with "
                                 "(default: the first arm).")
    cost_axes: list[Axis] = Field(default_factory=lambda: list(DEFAULT_AXES),
                                  description="Cost axes to report and plot the metric against.")
    by: str | None = Field(None, description="A key of the evaluations' details (e.g. round): "
                           "one result per value, and the metric plotted against it.")
    equal_budget: EqualBudget | None = Field(None, description="Flag arms whose cost on an "
                                             "axis strays from the others'.")
    confidence: float = Field(0.95, gt=0.5, lt=1, description="Confidence level of intervals.")

    @field_validator("metric")
    @classmethod
    def _metric(cls, value: str) -> str:
        if not _METRIC.match(value):
            raise ValueError(f"unknown metric {value!r}: use accuracy, score, solve@K, pass@K "
                             "or metric:NAME")
        return value

    @field_validator("pairs")
    @classmethod
    def _pairs(cls, value: Any) -> Any:
        if isinstance(value, list) and any(len(p) != 2 for p in value):
            raise ValueError("each pair must name two arms, e.g. [explain, solve]")
        return value

    @property
    def label(self) -> str:
        return self.name or self.metric + (f" ({self.stage})" if self.stage else "")


class MeasureSpec(_Model):
    """A number per evaluation item, for correlations."""

    source: Literal["evaluations", "traces"] = Field("evaluations", description="Where the "
                                                     "number is stored.")
    stage: str = Field(..., description="The stage that stored it.")
    role: str | None = Field(None, description="For traces: only traces of this role.")
    field: Literal["passed", "score", "tokens_in", "tokens_out"] = Field(
        "score", description="Which column; an item's value is its mean over its rows.")


class CorrelationSpec(_Model):
    """Does one per-item number go with another (e.g. REER: PPL change vs judge score)?"""

    name: str = Field(..., description="A label for the table.")
    x: MeasureSpec = Field(..., description="The first number per item.")
    y: MeasureSpec = Field(..., description="The second number per item.")
    method: Literal["spearman", "pearson"] = Field("spearman", description="Rank (Spearman) "
                                                   "or linear (Pearson) correlation.")
    arms: list[str] | None = Field(None, description="Arms to report (default: all).")


class Study(_Model):
    """Arms x seeds over a base recipe, and the comparisons to report."""

    schema_version: int = Field(..., description=f"Study format version; this Distillab reads "
                                f"{SCHEMA_VERSION}.")
    name: str = Field(..., min_length=1, description="A short name for the study.")
    description: str = Field("", description="The question the study answers.")
    base: str | None = Field(None, description="The base recipe, relative to the study file.")
    base_recipe: dict[str, Any] | None = Field(None, description="Or the base recipe itself, "
                                               "inline (Setup's Run as study writes this).")
    arms: list[ArmSpec] = Field(..., min_length=1, description="The arms.")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1,
                             description="Seeds: every arm runs once per seed (the seed also "
                             "fixes the data split, so pairs are matched within a seed).")
    comparisons: list[ComparisonSpec] = Field(
        default_factory=lambda: [ComparisonSpec()], description="What to report.")
    correlations: list[CorrelationSpec] = Field(default_factory=list,
                                                description="Per-item correlations to report.")
    resamples: int = Field(2000, ge=200, le=100_000, description="Bootstrap resamples.")

    @field_validator("schema_version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value != SCHEMA_VERSION:
            raise ValueError(f"schema_version {value} is not supported; this Distillab reads "
                             f"schema_version {SCHEMA_VERSION}")
        return value

    def pairs_of(self, comparison: ComparisonSpec) -> list[tuple[str, str]]:
        """The (a, b) arm pairs of a comparison; the difference is b - a."""
        names = [a.name for a in self.arms]
        if isinstance(comparison.pairs, list):
            return [(p[0], p[1]) for p in comparison.pairs]
        if comparison.pairs == "all":
            return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
        base = comparison.baseline or names[0]
        return [(base, n) for n in names if n != base]


class StudyError(RecipeError):
    """A study with problems; ``problems`` lists all of them."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        head = f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in the study"
        self.message = head + ":\n" + "\n".join(f"  {p}" for p in problems)
        self.args = (self.message,)


@dataclass(frozen=True)
class ArmRun:
    """One arm x seed: the recipe its run uses (``loaded.text`` is the run's snapshot)."""

    arm: str
    seed: int
    loaded: LoadedRecipe


@dataclass(frozen=True)
class LoadedStudy:
    study: Study
    text: str
    source: str
    base_dir: Path | None
    runs: list[ArmRun]  # seed by seed, arms in order: shared stages are computed first


def study_model(text: str) -> Study:
    """The study model of a stored study's text (it was validated when it was created)."""
    return Study.model_validate(yaml.safe_load(text))


def _cross_checks(study: Study, root: yaml.Node | None, source: str) -> list[Problem]:
    out = []
    names = [a.name for a in study.arms]
    for i, name in enumerate(names):
        if name in names[:i]:
            out.append(Problem(source, _line_of(root, ("arms", i, "name")), f"arms.{i}.name",
                               f"arm name {name!r} is used twice", "give every arm its own name"))
    if len(set(study.seeds)) != len(study.seeds):
        out.append(Problem(source, _line_of(root, ("seeds",)), "seeds", "a seed is listed twice",
                           "list each seed once"))
    if (study.base is None) == (study.base_recipe is None) and \
            any(a.recipe is None for a in study.arms):
        out.append(Problem(source, _line_of(root, ("base",)), "base",
                           "give exactly one of `base` (a recipe file) or `base_recipe`",
                           "e.g. base: ../smoke.yaml (relative to the study file)"))
    known = ", ".join(names)
    for i, comp in enumerate(study.comparisons):
        named = [("baseline", comp.baseline)] if comp.baseline else []
        if isinstance(comp.pairs, list):
            named += [("pairs", n) for p in comp.pairs for n in p]
        for key, n in named:
            if n not in names:
                out.append(Problem(source, _line_of(root, ("comparisons", i, key)),
                                   f"comparisons.{i}.{key}", f"no arm named {n!r}",
                                   f"the arms are: {known}"))
    for i, corr in enumerate(study.correlations):
        for n in corr.arms or []:
            if n not in names:
                out.append(Problem(source, _line_of(root, ("correlations", i, "arms")),
                                   f"correlations.{i}.arms", f"no arm named {n!r}",
                                   f"the arms are: {known}"))
    return out


def _recipe_text(study: Study, arm: ArmSpec, base_dir: Path | None,
                 source: str) -> tuple[str, str, Path | None]:
    """(text, source path, folder of relative paths) of the recipe an arm starts from."""
    ref = arm.recipe or study.base
    if ref is not None:
        path = Path(ref) if Path(ref).is_absolute() or base_dir is None else base_dir / ref
        return path.read_text(encoding="utf-8"), str(path), path.resolve().parent
    text = yaml.safe_dump(study.base_recipe, sort_keys=False, allow_unicode=True)
    folder = base_dir if base_dir is not None else Path.cwd()
    # runs keep the recipe's path to find relative files: a name in the study's folder
    return text, str(folder / f"{study.name} (inline base recipe).yaml"), folder


def _recipe_files(study: Study, root: yaml.Node | None, source: str,
                  base_dir: Path | None) -> list[Problem]:
    """Problems of the recipe files themselves (reported at their own file:line)."""
    out: list[Problem] = []
    checked: set[str] = set()
    for i, arm in enumerate(study.arms):
        ref = arm.recipe or study.base
        if ref is None or ref in checked:
            continue
        checked.add(ref)
        path = Path(ref) if Path(ref).is_absolute() or base_dir is None else base_dir / ref
        key = ("arms", i, "recipe") if arm.recipe else ("base",)
        if not path.is_file():
            out.append(Problem(source, _line_of(root, key), ".".join(map(str, key)),
                               f"recipe file not found: {path}",
                               "give the path relative to the study file"))
            continue
        try:
            load_recipe(path)
        except RecipeError as exc:
            out += exc.problems
    return out


def _arm_problems(exc: RecipeError, study: Study, i: int, root: yaml.Node | None,
                  source: str) -> list[Problem]:
    """A recipe problem caused by an arm's overrides (or the inline base), at its study line."""
    arm = study.arms[i]
    out = []
    for p in exc.problems:
        keys = {o.partition("=")[0].strip() for o in arm.overrides()}
        hit = next((k for k in keys if p.field == k or p.field.startswith(k + ".")
                    or k.startswith(p.field + ".")), None)
        if hit is not None:
            loc: tuple[str | int, ...] = ("arms", i, "set")
            where = f"arms.{i}.set ({arm.name}): {p.field}"
        elif study.base_recipe is not None and arm.recipe is None:
            loc = ("base_recipe", *p.field.split("."))
            where = f"base_recipe.{p.field}"
        else:
            loc = ("arms", i)
            where = f"arms.{i} ({arm.name}): {p.field}"
        out.append(Problem(source, _line_of(root, loc), where, p.message, p.fix))
    return out


def parse_study(text: str, source: str = "<study>", base_dir: Path | None = None) -> LoadedStudy:
    """Validate study text and every arm's recipe; raise StudyError with every problem."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise StudyError([Problem(source, mark.line + 1 if mark is not None else None, "",
                                  f"not valid YAML: {getattr(exc, 'problem', exc)}",
                                  "check indentation and quoting near that line")]) from None
    if not isinstance(data, dict):
        raise StudyError([Problem(source, 1, "", "a study must be a YAML mapping",
                                  "start from one of the studies in recipes/studies/")])
    try:
        study = Study.model_validate(data)
    except ValidationError as exc:
        raise StudyError(_problems(exc, Study, root, source)) from None
    problems = _cross_checks(study, root, source)
    problems += _recipe_files(study, root, source, base_dir)
    if problems:
        raise StudyError(problems)
    runs: list[ArmRun] = []
    seen: set[tuple[str, str, str]] = set()
    for seed in study.seeds:
        for i, arm in enumerate(study.arms):
            base_text, recipe_source, folder = _recipe_text(study, arm, base_dir, source)
            overrides = [*arm.overrides(), f"seed={seed}",
                         f"name={json.dumps(f'{study.name}/{arm.name}/seed{seed}')}"]
            try:
                loaded = parse_recipe(apply_overrides(base_text, overrides, recipe_source),
                                      recipe_source, folder)
            except RecipeError as exc:
                for p in _arm_problems(exc, study, i, root, source):
                    if (p.field, p.message, str(p.line)) not in seen:  # once, not per seed
                        seen.add((p.field, p.message, str(p.line)))
                        problems.append(p)
                continue
            runs.append(ArmRun(arm.name, seed, loaded))
    if problems:
        raise StudyError(problems)
    return LoadedStudy(study, text, source, base_dir, runs)


def load_study(path: str | Path) -> LoadedStudy:
    """Read and validate a study file (recipe paths in it are relative to its folder)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise StudyError([Problem(str(p), None, "", f"cannot read the study: {exc.strerror}",
                                  "check the path")]) from None
    return parse_study(text, str(p), p.resolve().parent)
