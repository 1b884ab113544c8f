"""What a stage function gets: ``StageContext``, with unit-by-unit commits and event helpers.

A stage is a function ``stage(ctx)``. It walks its work with ``ctx.pending(units, key)``,
which skips units finished in an earlier attempt, and writes each unit's results inside
``with ctx.commit(unit):``, which records the unit as finished in the same transaction.
So a ``kill -9`` loses at most the unit in flight, and a resumed run counts every unit
exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from pydantic import BaseModel

from engine import events as ev
from engine.errors import Cancelled
from engine.recipes import SECTIONS, LoadedRecipe, Recipe
from engine.store import Store, items, runs, traces
from engine.store.items import Item

if TYPE_CHECKING:
    from engine.paradigms import StageSpec

T = TypeVar("T")
EventSink = Callable[[ev.Event], None]
CancelCheck = Callable[[], bool]


@dataclass(frozen=True)
class Unit(Generic[T]):
    """One piece of a stage's work and its resume key (a content hash or stable id)."""

    key: str
    value: T


class StageContext:
    """What a stage function gets: the store, the recipe, its parameters and event helpers."""

    def __init__(self, *, store: Store, run_id: int, loaded: LoadedRecipe, spec: StageSpec,
                 dataset_id: int | None, emit: EventSink, cancelled: CancelCheck) -> None:
        self.store = store
        self.run_id = run_id
        self.loaded = loaded
        # a stage that narrows its sections (StageSpec.reads) sees only those
        self.recipe: Recipe = loaded.recipe if spec.reads is None else \
            cast(Recipe, SectionView(loaded.recipe, spec.name, spec.reads))
        self.stage = spec.name
        self.params: BaseModel = loaded.stage_params[spec.name]
        self.spec = spec
        self.dataset_id = dataset_id
        self._emit = emit
        self._cancelled = cancelled
        self._deferred: list[ev.Event] = []
        self._in_unit = False
        self._done = 0
        self._total = 0
        self._t0 = time.monotonic()
        self._done_at_start = 0

    def params_of_stage(self, stage: str) -> Any:
        """Another stage's parameters, as far as this stage may read them: all of this or
        an earlier stage's (their values are in this stage's reuse key already), of a later
        stage only what ``StageSpec.reads_params`` declares (anything else raises
        ``UndeclaredRead``, which would let a study reuse this stage wrongly)."""
        from engine.paradigms import PARADIGMS

        params = self.loaded.stage_params[stage]
        paradigm = PARADIGMS.get(self.recipe.paradigm)
        order = [s.name for s in paradigm.stages] if paradigm else []
        if stage not in order or self.stage not in order or \
                order.index(stage) <= order.index(self.stage):
            return params
        declared = {path for path in self.spec.reads_params if path.split(".")[0] == stage}
        return params if stage in declared else DeclaredView(params, stage, self.stage, declared)

    # -- data ---------------------------------------------------------------------------
    def items(self, split: str | None = None) -> list[Item]:
        if self.dataset_id is None:
            return []
        return items.get_items(self.store, self.dataset_id, split)

    @property
    def files(self) -> Path:
        """This run's folder for large files (checkpoints, adapters, exports)."""
        from engine.paths import run_dir

        return run_dir(self.store.path, self.run_id)

    # -- units --------------------------------------------------------------------------
    def pending(self, values: Iterable[T], key: Callable[[T], str]) -> Iterator[Unit[T]]:
        """Yield the units not finished yet; checks cancel between units, reports progress."""
        all_units = [Unit(key(v), v) for v in values]
        keys = [u.key for u in all_units]
        if len(set(keys)) != len(keys):
            raise ValueError(f"stage {self.stage}: unit keys are not unique")
        finished = runs.finished_units(self.store, self.run_id, self.stage)
        self._total = len(all_units)
        self._done = sum(1 for k in keys if k in finished)
        self._done_at_start = self._done
        self._t0 = time.monotonic()
        runs.set_stage(self.store, self.run_id, self.stage, done=self._done, total=self._total)
        self._progress()
        for unit in all_units:
            if unit.key in finished:
                continue
            self.check_cancel()
            yield unit

    @contextmanager
    def commit(self, unit: Unit[Any]) -> Iterator[None]:
        """Write the unit's results and mark it finished, atomically."""
        self._deferred = []
        self._in_unit = True
        try:
            with self.store.transaction():
                yield
                runs.mark_unit(self.store, self.run_id, self.stage, unit.key)
                self._done += 1
                runs.set_stage(self.store, self.run_id, self.stage, done=self._done)
        except BaseException:
            self._deferred = []
            raise
        finally:
            self._in_unit = False
        for event in self._deferred:
            self._emit(event)
        self._deferred = []
        self._progress()

    def check_cancel(self) -> None:
        if self._cancelled():
            raise Cancelled()

    def cancel_requested(self) -> bool:
        """For long calls that stop on their own (training): has the user asked to cancel?"""
        return self._cancelled()

    # -- events -------------------------------------------------------------------------
    def _send(self, event: ev.Event) -> None:
        (self._deferred.append if self._in_unit else self._emit)(event)

    def _progress(self, message: str = "") -> None:
        elapsed = time.monotonic() - self._t0
        made = self._done - self._done_at_start
        rate = made / elapsed if made and elapsed > 0 else None
        eta = (self._total - self._done) / rate if rate else None
        self._emit(ev.Progress(self.run_id, self.stage, self._done, self._total, rate, eta,
                               message))

    def progress(self, done: int, total: int, message: str = "") -> None:
        """For stages that count their own work (e.g. training steps)."""
        if total != self._total or done < self._done:
            self._done_at_start, self._t0 = done, time.monotonic()
        self._done, self._total = done, total
        runs.set_stage(self.store, self.run_id, self.stage, done=done, total=total)
        self._progress(message)

    def metric(self, name: str, value: float, step: int | None = None) -> None:
        runs.add_metric(self.store, self.run_id, name, value, step=step, stage=self.stage)
        self._send(ev.Metric(self.run_id, self.stage, name, float(value), step))

    def log(self, message: str, level: str = "info") -> None:
        self._send(ev.Log(self.run_id, level, message, self.stage))

    def trace(self, **fields: Any) -> int:
        """Store a trace (see ``store.traces.add_trace``) for this run and stage."""
        trace_id = traces.add_trace(self.store, run_id=self.run_id, stage=self.stage, **fields)
        self._send(ev.TraceStored(self.run_id, self.stage, trace_id, fields["role"],
                                  fields.get("item_id")))
        return trace_id


class UndeclaredRead(RuntimeError):
    """A stage read a later stage's parameter its ``StageSpec.reads_params`` leaves out, or
    a recipe section its ``StageSpec.reads`` leaves out."""


class SectionView:
    """The recipe as a stage with narrowed ``reads`` sees it: another section raises."""

    def __init__(self, recipe: Recipe, reader: str, reads: tuple[str, ...]) -> None:
        self._recipe, self._reader, self._reads = recipe, reader, reads

    def __getattr__(self, name: str) -> Any:
        if name in SECTIONS and name not in self._reads:
            raise UndeclaredRead(
                f"stage {self._reader!r} reads the recipe's {name} section, but its "
                f"StageSpec.reads is {self._reads}: add {name!r} there (in the paradigm's "
                "__init__.py) so that the stage's reuse key follows it")
        return getattr(self._recipe, name)


class DeclaredView:
    """A later stage's parameters seen through what the reading stage declared."""

    def __init__(self, value: Any, path: str, reader: str, declared: set[str]) -> None:
        self._value, self._path, self._reader, self._declared = value, path, reader, declared

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        path = f"{self._path}.{name}"
        value = getattr(self._value, name)
        if path in self._declared:
            return value
        if any(d.startswith(path + ".") for d in self._declared):
            return DeclaredView(value, path, self._reader, self._declared)
        raise UndeclaredRead(
            f"stage {self._reader!r} reads {path}, a parameter of a later stage, but its "
            f"StageSpec.reads_params does not name it: add {path!r} there (in the "
            "paradigm's __init__.py) so that the stage's reuse key follows it")
