"""The teacher: any OpenAI-compatible endpoint or the embedded llama.cpp model, one client.

A paradigm stage does::

    from engine.teacher import Request, open_teacher

    with open_teacher(ctx.recipe.teacher, store=ctx.store, run_id=ctx.run_id,
                      stage=ctx.stage) as teacher:
        results = teacher.chat_many([Request(messages=[...], n=4), ...])

Requests run concurrently, answers are cached and audited in ``teacher_calls``, the
run's budget is enforced. Modules: ``client`` (the Teacher), ``connect`` (open_teacher),
``clients`` (its HTTP clients), ``body`` (the JSON sent and read back), ``audit`` (its
``teacher_calls`` rows), ``rounds`` (one ``chat_many``'s budget and stop), ``local`` +
``guard`` (embedded server), ``transport`` (lean loopback HTTP), ``pool`` (several
servers), ``batch`` (Batch API jobs), ``cache``, ``budget``, ``limits``, ``prices``,
``keys``, ``probe``, ``stream``, ``errors``. Importing this package does not import ``openai``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.teacher.budget import raise_budget as raise_budget
    from engine.teacher.client import Teacher as Teacher
    from engine.teacher.connect import open_teacher as open_teacher
    from engine.teacher.connect import probe_teacher as probe_teacher
    from engine.teacher.errors import BudgetExhausted as BudgetExhausted
    from engine.teacher.errors import TeacherError as TeacherError
    from engine.teacher.probe import ProbeReport as ProbeReport
    from engine.teacher.probe import probe_endpoint as probe_endpoint
    from engine.teacher.types import CallError as CallError
    from engine.teacher.types import Completion as Completion
    from engine.teacher.types import Delta as Delta
    from engine.teacher.types import Request as Request
    from engine.teacher.types import Result as Result

# Public name -> module. Loaded on first use, so `distillab --help` and the GUI's first
# paint do not pay for the store and client imports.
_EXPORTS = {
    "raise_budget": "budget", "Teacher": "client", "open_teacher": "connect",
    "probe_teacher": "connect", "BudgetExhausted": "errors", "TeacherError": "errors",
    "ProbeReport": "probe", "probe_endpoint": "probe", "CallError": "types", "Completion": "types",
    "Delta": "types", "Request": "types", "Result": "types",
}
__all__ = ["BudgetExhausted", "CallError", "Completion", "Delta", "ProbeReport", "Request",
           "Result", "Teacher", "TeacherError", "open_teacher", "probe_endpoint", "probe_teacher",
           "raise_budget"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'engine.teacher' has no attribute {name!r}")
    return getattr(importlib.import_module(f"engine.teacher.{_EXPORTS[name]}"), name)
