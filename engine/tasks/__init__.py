"""Task kinds: answer extraction and verification for every paradigm's evaluation.

``get_task(kind)`` gives a task from the explicit table below; each has
``extract(text) -> str | None``, ``verify(prediction, fields) -> Verdict`` and
``verify_many(predictions, fields_list, on_progress)``. ``FIELDS`` on each class names
the item fields it reads (map them in the recipe's ``dataset.fields``).
"""

from __future__ import annotations

from typing import Any

from engine.errors import DistillabError
from engine.tasks.base import Task, Verdict
from engine.tasks.choice import ChoiceTask
from engine.tasks.code import (
    CodeAssertsTask,
    CodeCheckTask,
    CodeStdioTask,
    extract_program,
    run_programs,
)
from engine.tasks.math import MathBoxedTask, MathNumberTask
from engine.tasks.openended import OpenTask
from engine.tasks.yesno import YesNoTask

TASKS: dict[str, type[Task]] = {
    "gsm8k": MathNumberTask,
    "math_number": MathNumberTask,
    "math_boxed": MathBoxedTask,
    "choice": ChoiceTask,
    "yesno": YesNoTask,
    "code_asserts": CodeAssertsTask,
    "code_check": CodeCheckTask,
    "code_stdio": CodeStdioTask,
    "open": OpenTask,
}


def get_task(kind: str, **options: Any) -> Task:
    """The task for ``kind``; ``options`` go to its constructor (``sandbox=`` for code kinds,
    ``threshold=`` for ``open``)."""
    cls = TASKS.get(kind)
    if cls is None:
        raise DistillabError(f"unknown task kind {kind!r}",
                             f"use one of: {', '.join(sorted(TASKS))}")
    return cls(**options)


__all__ = ["TASKS", "Task", "Verdict", "extract_program", "get_task", "run_programs"]
