"""The explicit table of paradigms: name -> its stages, in order, with their parameter models.

Each paradigm is a package ``engine/paradigms/<name>/`` whose ``__init__`` exposes
``PARADIGM``; a recipe's ``paradigm`` field resolves only through this table (no dotted
imports). Building blocks that several paradigms' stages use live in ``blocks.py``.
Stage functions import heavy libraries (torch, transformers) inside their bodies, so
reading this table is cheap. ``check_stages`` validates a recipe's ``stages:`` section
against the table (``engine.validate`` joins it with the recipe's own models).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import BaseModel, ValidationError

from engine.recipes import Problem, line_of, problems_from

if TYPE_CHECKING:
    from engine.stage import StageContext


@dataclass(frozen=True)
class StageSpec:
    name: str
    run: Callable[[StageContext], None]
    params: type[BaseModel]
    help: str
    # The recipe sections the stage's results depend on (engine.studies.reuse.SECTIONS:
    # dataset, seed, teacher, student, training, evaluation); None: all of them. Its own
    # parameters and every earlier stage's inputs always count.
    reads: tuple[str, ...] | None = None
    # Parameters of LATER stages (or of itself through another name) that the stage's code
    # reads, e.g. ("train.template", "evaluate.task"); a bare stage name: all of its
    # parameters. They join the stage's reuse key; an earlier stage's parameters count
    # already (each key chains the one before). ``blocks.stage_params`` refuses a read of a
    # later stage's parameter that is not declared here, and tests/test_study_reuse_keys.py
    # finds every such read in the source.
    reads_params: tuple[str, ...] = ()


@dataclass(frozen=True)
class Paradigm:
    name: str
    title: str
    paper: str
    description: str
    stages: tuple[StageSpec, ...]
    default_recipe: str = ""  # a file in recipes/ that a new experiment starts from


def check_stages(data: dict[str, Any], root: yaml.Node | None,
                 source: str) -> tuple[dict[str, BaseModel], list[Problem]]:
    """Each stage's parameters of a recipe mapping, validated by its paradigm's models;
    with every problem (unknown paradigm, unknown stage, bad parameter) found."""
    problems: list[Problem] = []
    stage_params: dict[str, BaseModel] = {}
    paradigm = PARADIGMS.get(str(data.get("paradigm")))
    if "paradigm" in data and paradigm is None:
        problems.append(Problem(source, line_of(root, ("paradigm",)), "paradigm",
                                f"unknown paradigm {data['paradigm']!r}",
                                f"use one of: {', '.join(sorted(PARADIGMS))}"))
    given = data.get("stages") or {}
    if paradigm is None or not isinstance(given, dict):
        return stage_params, problems
    specs = {s.name: s for s in paradigm.stages}
    for name in given:
        if name not in specs:
            problems.append(Problem(source, line_of(root, ("stages", name)), f"stages.{name}",
                                    f"paradigm {paradigm.name!r} has no stage {name!r}",
                                    f"its stages are: {', '.join(specs)}"))
    for name, spec in specs.items():
        try:
            stage_params[name] = spec.params.model_validate(given.get(name) or {})
        except ValidationError as exc:
            problems += problems_from(exc, spec.params, root, source, ("stages", name))
    return stage_params, problems


def _table() -> dict[str, Paradigm]:
    from engine.paradigms import cot, elad, explain, lema, reer, smoke, supercorrect

    return {p.name: p for p in (smoke.PARADIGM, cot.PARADIGM, explain.PARADIGM,
                                supercorrect.PARADIGM, reer.PARADIGM, elad.PARADIGM,
                                lema.PARADIGM)}


PARADIGMS: dict[str, Paradigm] = _table()
