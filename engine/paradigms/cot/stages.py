"""Stages of the `cot` paradigm: baseline -> solve -> train -> evaluate.

baseline: the untrained student answers the evaluation items (so the lift is measured on
the same items). solve: the teacher writes a step-by-step solution per training question
(or the data set's gold solution is used); each is verified against the gold answer and a
wrong one is flagged and kept out of training. train: QLoRA SFT of the student on
question -> solution. evaluate: the trained student on the same items, with the lift.
"""

from __future__ import annotations

from typing import Any

from engine.errors import DistillabError
from engine.paradigms.blocks import (
    Messages,
    ask_units,
    evaluate_student,
    params_of,
    stage_params,
    stage_traces,
    teacher_text,
    train_stage,
    trained_adapter,
    usage,
)
from engine.paradigms.cot import params as P
from engine.prompts import render
from engine.stage import StageContext, Unit
from engine.steps import split_steps
from engine.store import StepIn, runs
from engine.store.items import Item


def question(item: Item) -> str:
    return str(item.data.get("question", ""))


def student_messages(ctx: StageContext, item: Item) -> Messages:
    """The student's prompt for an item (training and evaluation use the same)."""
    template = stage_params(ctx, "train", P.TrainParams).template
    return [{"role": "user", "content": render(template, ctx.loaded.base_dir,
                                               question=question(item))}]


def chain_steps(text: str) -> list[StepIn]:
    """A chain's "Step N:" lines as steps (other text: paragraphs or lines)."""
    return [StepIn(piece.text, kind=piece.kind if piece.kind == "preamble" else "step")
            for piece in split_steps(text)]


def _task(ctx: StageContext) -> str:
    return stage_params(ctx, "evaluate", P.EvaluateParams).task


# -- baseline ------------------------------------------------------------------------------


def baseline(ctx: StageContext) -> None:
    p = params_of(ctx, P.BaselineParams)
    if not p.enabled:
        ctx.log("baseline.enabled is false: no evaluation before training")
        return
    evaluate_student(ctx, adapter=None, prompt_for=lambda it: student_messages(ctx, it),
                     task=_task(ctx), role="student-base", metric="accuracy_base",
                     what="untrained student",
                     batch_size=stage_params(ctx, "evaluate", P.EvaluateParams).batch_size,
                     steps_for=chain_steps)


# -- solve ---------------------------------------------------------------------------------


def solve(ctx: StageContext) -> None:
    from engine.tasks import get_task
    from engine.teacher import Request, Result

    p = params_of(ctx, P.SolveParams)
    checker = get_task(_task(ctx))
    todo = [it for split in p.splits for it in ctx.items(split)]
    units = list(ctx.pending(todo, key=lambda it: it.item_hash))
    wrong = 0

    def keep(item: Item, text: str, model: str, prompt: str | None, **cost: Any) -> None:
        nonlocal wrong
        verdict = checker.verify(text, item.data)
        flag = None if verdict.passed or p.keep_wrong else \
            f"wrong answer: {verdict.predicted} (gold {verdict.gold})"
        wrong += 0 if verdict.passed else 1
        ctx.trace(role="teacher" if p.source == "teacher" else "reference", item_id=item.id,
                  model=model, prompt=prompt, output=text, verdict="passed" if verdict.passed
                  else "failed", flag=flag, parsed={"predicted": verdict.predicted},
                  steps=chain_steps(text), **cost)

    if p.source == "gold":
        for unit in units:
            with ctx.commit(unit):
                keep(unit.value, str(unit.value.data.get(p.gold_field, "")), "dataset", None)
    else:
        max_tokens = p.max_tokens or ctx.recipe.teacher.max_tokens

        def requests_for(item: Item) -> list[Request]:
            prompt = render(p.template, ctx.loaded.base_dir, question=question(item))
            return [Request(messages=[{"role": "user", "content": prompt}],
                            max_tokens=max_tokens, temperature=ctx.recipe.teacher.temperature)]

        def store(unit: Unit[Item], results: list[Result]) -> None:
            r = results[0]
            with ctx.commit(unit):
                keep(unit.value, teacher_text(r), ctx.recipe.teacher.model,
                     requests_for(unit.value)[0].messages[-1]["content"], **usage(results))

        ask_units(ctx, units, requests_for, store, batch=p.batch)
    if wrong:
        ctx.log(f"{wrong} of {len(units)} solutions had a wrong final answer"
                f"{'' if p.keep_wrong else ' and are kept out of training (verdict failed)'}",
                "warning")


# -- train ---------------------------------------------------------------------------------


def training_rows(ctx: StageContext, split: str, limit: int | None = None) -> list[dict[str, Any]]:
    """question -> solution rows from the solve stage's unflagged traces of a split."""
    wanted = {it.id: it for it in ctx.items(split)}
    rows = [{"prompt": student_messages(ctx, wanted[t.item_id]), "completion": t.output}
            for t in stage_traces(ctx, "solve") if t.item_id in wanted and not t.flag
            and (t.output or "").strip()]
    return rows[:limit] if limit else rows


def train(ctx: StageContext) -> None:
    p = params_of(ctx, P.TrainParams)
    rows = training_rows(ctx, "train", p.max_rows)
    if not rows:
        raise DistillabError("no usable training rows: every solution was flagged or empty",
                             "look at the solve stage's traces (verdict failed); try "
                             "solve.source: gold or a stronger teacher")
    eval_rows = training_rows(ctx, "validation")
    ctx.log(f"training the student on {len(rows)} solutions"
            f"{f', validating on {len(eval_rows)}' if eval_rows else ''}")
    train_stage(ctx, rows, eval_rows=eval_rows)


# -- evaluate ------------------------------------------------------------------------------


def evaluate(ctx: StageContext) -> None:
    p = params_of(ctx, P.EvaluateParams)
    after = evaluate_student(ctx, adapter=trained_adapter(ctx, "train"),
                             prompt_for=lambda it: student_messages(ctx, it), task=p.task,
                             what="trained student", batch_size=p.batch_size,
                             steps_for=chain_steps)
    before = runs.latest_metrics(ctx.store, ctx.run_id).get("accuracy_base")
    if before is not None:
        lift = 100 * (after.mean - before)
        ctx.metric("lift_points", lift)
        ctx.log(f"lift: {lift:+.1f} points (before {before:.3f}, after {after.mean:.3f})")


__all__ = ["baseline", "evaluate", "solve", "train"]
