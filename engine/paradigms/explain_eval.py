"""Stages 4-6 of the explain paradigm: plan (M per problem), code (T per plan), evaluate.

Evaluate runs every program in the sandbox, then reports per item g_i passing programs of
n = M*T; solve@k = mean over items of 1 - C(n-g_i, k)/C(n, k) (PAPERS.md); the M x T grid
(sub-grids with m*t = budget taken from the first m plans and first t codes of each); and
the curve data the review asks for: solve@k against k (samples) and against teacher tokens.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from engine.paradigms import explain_params as P
from engine.paradigms.explain_parts import compose, parse_editorial
from engine.prompts import render
from engine.stage import StageContext
from engine.store import StepIn, traces
from engine.store.items import Item


def ask_all(teacher: Any, requests: list[Any]) -> tuple[list[Any], Exception | None]:
    """All results, or on a budget stop the ones that finished (None for the rest) and the
    stop to re-raise once the finished units are committed."""
    from engine.teacher import BudgetExhausted

    try:
        return list(teacher.chat_many(requests)), None
    except BudgetExhausted as stop:
        return list(stop.results), stop


def trained_adapter(ctx: StageContext) -> Path | None:
    """The Reasoner adapter the train stage registered (None: no training in this recipe)."""
    from engine.store import runs

    adapters = [a for a in runs.artifacts(ctx.store, ctx.run_id) if a["kind"] == "adapter"]
    return Path(adapters[-1]["path"]) if adapters else None


def params_of(ctx: StageContext, kind: type[Any]) -> Any:
    """The stage's parameters, checked to be of the stage's model."""
    assert isinstance(ctx.params, kind)
    return ctx.params


def _eval_items(ctx: StageContext) -> list[Item]:
    chosen = ctx.items(ctx.recipe.evaluation.split)
    limit = ctx.recipe.evaluation.limit
    return chosen[:limit] if limit else chosen


def stage_traces(ctx: StageContext, stage: str,
                 role: str | None = None) -> list[traces.Trace]:
    """Every trace a stage of this run stored (with a role: only those)."""
    return traces.page_traces(ctx.store, run_id=ctx.run_id, stage=stage, role=role,
                              limit=10_000_000)


# -- plan ---------------------------------------------------------------------------------


def plan(ctx: StageContext) -> None:
    p = params_of(ctx, P.PlanParams)
    target = ctx.loaded.stage_params["train"].target  # type: ignore[attr-defined]
    pending = list(ctx.pending(_eval_items(ctx), key=lambda it: it.item_hash))
    if not pending:
        return
    if target in ("none", "code"):  # no Reasoner: one empty plan, the Coder works alone
        for unit in pending:
            with ctx.commit(unit):
                ctx.trace(role="plan", item_id=unit.value.id, output="", sample_index=0,
                          model="none", parsed={"source": "none"})
        return
    from engine.student import load_student, sample

    model, tokenizer = load_student(ctx.recipe.student, for_training=False,
                                    adapter=trained_adapter(ctx))
    template = ctx.loaded.stage_params["train"].template  # type: ignore[attr-defined]
    for start in range(0, len(pending), p.batch_size):
        chunk = pending[start:start + p.batch_size]
        prompts = [[{"role": "user", "content": render(template, ctx.loaded.base_dir,
                                                       problem=str(u.value.data["problem"]))}]
                   for u in chunk]
        samples = sample(model, tokenizer, prompts, k=p.plans, temperature=p.temperature,
                         top_p=p.top_p, max_new_tokens=p.max_new_tokens,
                         seed=ctx.recipe.seed + start, batch_size=p.batch_size)
        for unit, outs in zip(chunk, samples, strict=True):
            with ctx.commit(unit):
                for m, s in enumerate(outs):
                    ed = parse_editorial(s.text)
                    ctx.trace(role="reasoner", item_id=unit.value.id, output=s.text,
                              sample_index=m, model=ctx.recipe.student.model,
                              tokens_out=s.tokens, parsed={"sections": ed.sections},
                              steps=[StepIn(t, kind=k) for k, t in ed.sections.items()]
                              or [StepIn(s.text)])


# -- code ---------------------------------------------------------------------------------


def _plan_text(t: traces.Trace, sections: list[str] | None) -> str:
    if sections is None or not t.parsed or not t.parsed.get("sections"):
        return t.output or ""
    return compose(t.parsed["sections"], sections)


def code(ctx: StageContext) -> None:
    from engine.tasks import extract_program

    p = params_of(ctx, P.CodeParams)
    plan_p = ctx.loaded.stage_params["plan"]
    sections = plan_p.sections_for_coder  # type: ignore[attr-defined]
    by_item = {it.id: it for it in _eval_items(ctx)}
    plans = [t for t in stage_traces(ctx, "plan", "reasoner") + stage_traces(ctx, "plan", "plan")
             if t.item_id in by_item]
    plans.sort(key=lambda t: t.id)
    pending = list(ctx.pending(plans, key=lambda t: f"{t.item_id}:{t.sample_index}"))
    if not pending:
        return

    def prompt(t: traces.Trace) -> str:
        item = by_item[t.item_id or -1]
        tests = item.data.get("tests", [])
        shown = "\n".join(tests[: p.show_tests]) if isinstance(tests, list) else ""
        return render(p.template, ctx.loaded.base_dir, problem=str(item.data["problem"]),
                      plan=_plan_text(t, sections), entry_point=item.data.get("entry_point", ""),
                      tests_hint=shown)

    def store(unit: Any, texts: list[str], meta: list[dict[str, Any]]) -> None:
        plan_trace: traces.Trace = unit.value
        with ctx.commit(unit):
            entry = str(by_item[plan_trace.item_id or -1].data.get("entry_point") or "") or None
            for j, (text, m) in enumerate(zip(texts, meta, strict=True)):
                program = extract_program(text, entry)
                ctx.trace(role="coder", item_id=plan_trace.item_id, parent_id=plan_trace.id,
                          output=text, sample_index=plan_trace.sample_index * p.codes_per_plan + j,
                          parsed={"program": program, "plan_index": plan_trace.sample_index,
                                  "code_index": j}, flag=m.get("error"), **m.get("usage", {}))

    if p.coder == "teacher":
        from engine.teacher import Request, open_teacher

        with open_teacher(ctx.recipe.teacher, store=ctx.store, run_id=ctx.run_id,
                          stage=ctx.stage) as teacher:
            size = p.batch or ctx.recipe.teacher.concurrency
            for start in range(0, len(pending), size):
                chunk = pending[start:start + size]
                # the seed follows the plan index: two plans with the same text still get
                # their own samples (and their own cache entries)
                results, stop = ask_all(teacher, [
                    Request(messages=[{"role": "user", "content": prompt(u.value)}],
                            n=p.codes_per_plan, temperature=p.temperature,
                            max_tokens=p.max_tokens,
                            seed=ctx.recipe.seed * 1000 + u.value.sample_index) for u in chunk])
                for unit, r in zip(chunk, results, strict=True):
                    if r is None:  # not sent: the budget ran out first
                        continue
                    texts = [c.text for c in r.completions] if not r.error else []
                    texts += [""] * (p.codes_per_plan - len(texts))
                    usage = {"tokens_in": r.tokens_in, "tokens_out": r.tokens_out,
                             "latency_s": r.latency_s, "cost_usd": r.cost_usd,
                             "model": ctx.recipe.teacher.model}
                    meta = [{"usage": usage if j == 0 else {"model": usage["model"]},
                             "error": f"teacher error: {r.error}" if r.error else None}
                            for j in range(p.codes_per_plan)]
                    store(unit, texts, meta)
                if stop is not None:
                    raise stop
    else:
        from engine.student import load_student, sample

        model, tokenizer = load_student(ctx.recipe.student, for_training=False,
                                        adapter=trained_adapter(ctx))
        size = p.batch or 8
        for start in range(0, len(pending), size):
            chunk = pending[start:start + size]
            outs = sample(model, tokenizer,
                          [[{"role": "user", "content": prompt(u.value)}] for u in chunk],
                          k=p.codes_per_plan, temperature=p.temperature, top_p=1.0,
                          max_new_tokens=p.max_tokens, seed=ctx.recipe.seed + start,
                          batch_size=size)
            for unit, samples in zip(chunk, outs, strict=True):
                store(unit, [s.text for s in samples],
                      [{"usage": {"tokens_out": s.tokens, "model": ctx.recipe.student.model},
                        "error": None} for s in samples])


# -- evaluate -----------------------------------------------------------------------------


def evaluate(ctx: StageContext) -> None:
    from engine.tasks import run_programs

    p = params_of(ctx, P.EvaluateParams)
    by_item = {it.id: it for it in _eval_items(ctx)}
    programs = [t for t in stage_traces(ctx, "code", "coder") if t.item_id in by_item]
    pending = list(ctx.pending(programs, key=lambda t: str(t.id)))
    # each chunk runs in parallel, then its results commit: small enough that a kill loses
    # little, large enough to keep every sandbox worker busy
    chunk_size = 4 * (p.workers or os.cpu_count() or 1)
    for start in range(0, len(pending), chunk_size):
        chunk = pending[start:start + chunk_size]
        results = run_programs(p.task, [((u.value.parsed or {}).get("program") or "",
                                         by_item[u.value.item_id or -1].data) for u in chunk],
                               timeout_s=p.timeout_s, workers=p.workers)
        for unit, res in zip(chunk, results, strict=True):
            t: traces.Trace = unit.value
            with ctx.commit(unit):
                traces.add_evaluation(ctx.store, run_id=ctx.run_id, stage=ctx.stage,
                                      item_id=t.item_id, trace_id=t.id,
                                      sample_index=t.sample_index, passed=res.passed,
                                      details=res.details, time_s=res.time_s)
                # the program's trace shows its outcome in the Traces view
                ctx.store.update("traces", t.id, {"verdict": "passed" if res.passed
                                                  else "failed", "score": float(res.passed)})
    _aggregate(ctx, p, by_item)


def _aggregate(ctx: StageContext, p: P.EvaluateParams, by_item: dict[int, Item]) -> None:
    from engine.paradigms.explain_report import grid_and_curves

    summary = grid_and_curves(ctx.store, ctx.run_id, list(by_item), p.k, p.budget)
    for name, value, step in summary.metrics:
        ctx.metric(name, value, step)
    ctx.log(summary.text)
