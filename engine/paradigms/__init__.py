"""The explicit table of paradigms: name -> its stages, in order, with their parameter models.

Each paradigm module exposes ``PARADIGM``; a recipe's ``paradigm`` field resolves only
through this table (no dotted imports). Stage functions import heavy libraries (torch,
transformers) inside their bodies, so reading this table is cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel

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


@dataclass(frozen=True)
class Paradigm:
    name: str
    title: str
    paper: str
    description: str
    stages: tuple[StageSpec, ...]
    default_recipe: str = ""  # a file in recipes/ that a new experiment starts from


def _table() -> dict[str, Paradigm]:
    from engine.paradigms import explain, smoke

    return {p.name: p for p in (smoke.PARADIGM, explain.PARADIGM)}


PARADIGMS: dict[str, Paradigm] = _table()
