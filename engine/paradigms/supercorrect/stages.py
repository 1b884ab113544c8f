"""Stages of `supercorrect` up to the student's own solutions: template, hsft, hsft_eval, solve.

template: the teacher, seeing problem and reference solution, writes a hierarchical XML
thought template; it is parsed (only an unclosed last tag is repaired), and a broken one or
one whose <Answer> is not the gold answer is flagged and kept out of training. hsft: SFT of
the student on problem -> template (normalised form), with the template rules as the
prompt. hsft_eval: the HSFT student on the evaluation items. solve: the HSFT student solves
the training problems in the template; answers verified (the wrong ones go to `correct`).
"""

from __future__ import annotations

from typing import Any

from engine.errors import DistillabError
from engine.paradigms.blocks import (
    Messages,
    ask_units,
    chunks,
    evaluate_student,
    load_for_inference,
    params_of,
    sample_verified,
    sft_on_splits,
    stage_params,
    stage_traces,
    store_checked,
    teacher_text,
    trained_adapter,
    usage,
)
from engine.paradigms.supercorrect import formats as F
from engine.paradigms.supercorrect import params as P
from engine.paradigms.supercorrect.report import report_outputs
from engine.prompts import render
from engine.stage import StageContext, Unit
from engine.store import StepIn
from engine.store.items import Item

STOP = ("</Answer>",)  # a template ends there; nothing after it is read


def question(item: Item) -> str:
    return str(item.data.get("question", ""))


def student_messages(ctx: StageContext, item: Item) -> Messages:
    """The student's prompt: the template rules, then the problem (HSFT, solve, evaluate)."""
    template = stage_params(ctx, "hsft", P.HsftParams).template
    return [{"role": "user", "content": render(template, ctx.loaded.base_dir,
                                               question=question(item),
                                               answer_format=answer_format(ctx))}]


def task(ctx: StageContext) -> str:
    return stage_params(ctx, "evaluate", P.EvaluateParams).task


def answer_format(ctx: StageContext) -> str:
    return stage_params(ctx, "evaluate", P.EvaluateParams).answer_format


def template_steps(text: str) -> list[StepIn]:
    """A template's steps, keys, generalized summary and answer as stored steps."""
    return [StepIn(p.text, kind=p.kind) for p in F.parse_template(text).pieces()]


def batch_size(ctx: StageContext) -> int:
    return stage_params(ctx, "evaluate", P.EvaluateParams).batch_size


# -- template --------------------------------------------------------------------------------


def template(ctx: StageContext) -> None:
    from engine.tasks import get_task
    from engine.teacher import Request, Result

    p = params_of(ctx, P.TemplateParams)
    checker = get_task(task(ctx))
    todo = [it for split in p.splits for it in ctx.items(split)]
    units = list(ctx.pending(todo, key=lambda it: it.item_hash))
    max_tokens = p.max_tokens or ctx.recipe.teacher.max_tokens
    flagged = 0

    def prompt_of(item: Item) -> str:
        solution = item.data.get(p.solution_field)
        if not solution:
            raise DistillabError(f"item {item.id} has no {p.solution_field!r} field",
                                 "map the reference solution with dataset.fields or set "
                                 "stages.template.solution_field")
        return render(p.template, ctx.loaded.base_dir, question=question(item),
                      solution=str(solution), answer_format=answer_format(ctx))

    def requests_for(item: Item) -> list[Request]:
        return [Request(messages=[{"role": "user", "content": prompt_of(item)}],
                        max_tokens=max_tokens, temperature=ctx.recipe.teacher.temperature)]

    def store(unit: Unit[Item], results: list[Result]) -> None:
        nonlocal flagged
        text = teacher_text(results[0])
        parsed = F.parse_template(text)
        reason = parsed.reason or (results[0].error or "")
        verdict = None
        if not reason:
            verdict = checker.verify(parsed.answer or "", unit.value.data)
            if not verdict.passed:
                reason = f"<Answer> {verdict.predicted} is not the gold answer {verdict.gold}"
        flagged += bool(reason)
        with ctx.commit(unit):
            ctx.trace(role="teacher", item_id=unit.value.id, model=ctx.recipe.teacher.model,
                      prompt=prompt_of(unit.value), output=text,
                      verdict="failed" if reason else "passed", flag=reason or None,
                      parsed={"repaired": parsed.repaired, "answer": parsed.answer,
                              "steps": len(parsed.steps)},
                      steps=[StepIn(x.text, kind=x.kind) for x in parsed.pieces()],
                      **usage(results))

    ask_units(ctx, units, requests_for, store, batch=p.batch)
    if flagged:
        ctx.log(f"{flagged} of {len(units)} templates were flagged (broken XML or a wrong "
                "<Answer>) and are kept out of training", "warning")


# -- hsft ------------------------------------------------------------------------------------


def hsft_rows(ctx: StageContext, split: str) -> list[dict[str, Any]]:
    """problem -> template rows from the template stage's unflagged traces of a split."""
    wanted = {it.id: it for it in ctx.items(split)}
    rows = []
    for t in stage_traces(ctx, "template"):
        if t.item_id in wanted and not t.flag:
            parsed = F.parse_template(t.output or "")
            rows.append({"prompt": student_messages(ctx, wanted[t.item_id]),
                         "completion": F.render_template(parsed)})
    return rows


def hsft(ctx: StageContext) -> None:
    p = params_of(ctx, P.HsftParams)
    sft_on_splits(ctx, lambda split: hsft_rows(ctx, split), what="templates (HSFT)",
                  limit=p.max_rows, empty=DistillabError(
                      "no usable templates to train on: every one was flagged",
                      "look at the template stage's traces (their flag says why)"))


# -- hsft_eval -------------------------------------------------------------------------------


def evaluate_adapter(ctx: StageContext, adapter: Any, *, role: str, metric: str,
                     what: str) -> None:
    """The student with ``adapter`` on the evaluation items: accuracy (with pass@k), the
    share of outputs that keep the template, and the spread of answers over samples."""
    evaluate_student(ctx, adapter=adapter, prompt_for=lambda it: student_messages(ctx, it),
                     task=task(ctx), role=role, metric=metric, what=what,
                     batch_size=batch_size(ctx), steps_for=template_steps,
                     answer_of=F.answer_text, stop=STOP)
    report_outputs(ctx, metric)


def hsft_eval(ctx: StageContext) -> None:
    if not params_of(ctx, P.HsftEvalParams).enabled:
        ctx.log("hsft_eval.enabled is false: no evaluation of the HSFT student")
        return
    evaluate_adapter(ctx, trained_adapter(ctx, "hsft"), role="student-hsft",
                     metric="accuracy_hsft", what="HSFT student")


# -- solve -----------------------------------------------------------------------------------


def solve(ctx: StageContext) -> None:
    p = params_of(ctx, P.SolveParams)
    problems = ctx.items("train")[:p.max_problems] if p.max_problems else ctx.items("train")
    pending = list(ctx.pending(problems, key=lambda it: it.item_hash))
    if not pending:
        return
    model, tokenizer = load_for_inference(ctx, trained_adapter(ctx, "hsft"))
    for group in chunks(pending, batch_size(ctx)):
        prompts = [student_messages(ctx, u.value) for u in group]
        checked = sample_verified(ctx, model, tokenizer, [u.value for u in group], prompts,
                                  task=task(ctx), k=p.samples, temperature=p.temperature,
                                  max_new_tokens=p.max_new_tokens, batch_size=batch_size(ctx),
                                  stop=STOP, seed=ctx.recipe.seed, answer_of=F.answer_text)
        for unit, prompt, answers in zip(group, prompts, checked, strict=True):
            with ctx.commit(unit):
                for j, answer in enumerate(answers):
                    parsed = F.parse_template(answer.text)
                    store_checked(ctx, unit.value, answer, role="student",
                                  prompt=prompt[-1]["content"], sample_index=j,
                                  steps=[StepIn(x.text, kind=x.kind) for x in parsed.pieces()],
                                  parsed={"template_ok": parsed.ok, "reason": parsed.reason,
                                          "steps": len(parsed.steps)}, evaluate=False)
    rows = stage_traces(ctx, "solve", "student")
    wrong = sum(t.verdict == "failed" for t in rows)
    ctx.metric("solve_wrong_share", wrong / len(rows) if rows else 0.0)
    ctx.log(f"the HSFT student got {wrong} of {len(rows)} training solutions wrong")


__all__ = ["hsft", "hsft_eval", "solve", "template"]
