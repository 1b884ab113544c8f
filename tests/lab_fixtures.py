"""A tiny paradigm for lab tests: the lab teacher solves each item, a few items per call.

``register()`` adds it to the paradigm table (tests call it through monkeypatch, a child
process calls it directly before running the CLI). Stage ``solve`` asks the teacher with
``recipes/prompts/cot/solve.j2`` in chunks and commits each item's answer as a trace, so
a kill between chunks leaves some items done and some answers cached but not stored.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from engine.paradigms import PARADIGMS, Paradigm, StageSpec
from engine.prompts import render
from engine.stage import StageContext
from engine.teacher import Request, open_teacher


class SolveParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    chunk: int = 2
    pid_file: str | None = None  # where to write the lab teacher's pid (for kill tests)


def solve(ctx: StageContext) -> None:
    params = ctx.params
    assert isinstance(params, SolveParams)
    units = list(ctx.pending(ctx.items(), key=lambda item: item.item_hash))
    with open_teacher(ctx.recipe.teacher, store=ctx.store, run_id=ctx.run_id,
                      stage=ctx.stage) as teacher:
        if params.pid_file and teacher.server is not None:
            Path(params.pid_file).write_text(str(teacher.server.pid))
        for start in range(0, len(units), params.chunk):
            chunk = units[start:start + params.chunk]
            requests = [Request(messages=[{"role": "user", "content": render(
                "prompts/cot/solve.j2", None, question=u.value.data["question"])}], tag=u)
                for u in chunk]
            for result in teacher.chat_many(requests):
                with ctx.commit(result.tag):
                    ctx.trace(role="teacher", item_id=result.tag.value.id, output=result.text,
                              model=teacher.model, tokens_in=result.tokens_in,
                              tokens_out=result.tokens_out,
                              flag=None if result.ok else str(result.error))


PARADIGM = Paradigm("labsolve", "Lab solve", "(test)", "the lab teacher solves each item",
                    (StageSpec("solve", solve, SolveParams, "solve each item"),))


def register() -> None:
    PARADIGMS["labsolve"] = PARADIGM
