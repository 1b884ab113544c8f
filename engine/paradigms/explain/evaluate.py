"""Stages 4-6 of the explain paradigm: plan (M per problem), code (T per plan), evaluate.

Evaluate runs every program in the sandbox, then reports per item g_i passing programs of
n = M*T; solve@k = mean over items of 1 - C(n-g_i, k)/C(n, k) (PAPERS.md); the M x T grid
(sub-grids with m*t = budget taken from the first m plans and first t codes of each); and
the curve data the review asks for: solve@k against k (samples) and against teacher tokens.
"""

from __future__ import annotations

import os
from typing import Any

from engine.paradigms.blocks import (
    ask_units,
    eval_items,
    params_of,
    stage_params,
    stage_traces,
    trained_adapter,
)
from engine.paradigms.explain import params as P
from engine.paradigms.explain.editorial import compose, parse_editorial
from engine.paradigms.explain.stages import reasoner_messages
from engine.prompts import render
from engine.stage import StageContext
from engine.store import StepIn, traces
from engine.store.items import Item

# -- plan ---------------------------------------------------------------------------------


def plan(ctx: StageContext) -> None:
    p = params_of(ctx, P.PlanParams)
    target = stage_params(ctx, "train", P.TrainParams).target
    pending = list(ctx.pending(eval_items(ctx), key=lambda it: it.item_hash))
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
    for start in range(0, len(pending), p.batch_size):
        chunk = pending[start:start + p.batch_size]
        prompts = [reasoner_messages(ctx, u.value) for u in chunk]
        samples = sample(model, tokenizer, prompts, k=p.plans, temperature=p.temperature,
                         top_p=p.top_p, max_new_tokens=p.max_new_tokens,
                         seed=ctx.recipe.seed + start, batch_size=p.batch_size)
        ctx.metric("cost/student_gen_tokens", float(sum(s.tokens for o in samples for s in o)))
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
    task = stage_params(ctx, "evaluate", P.EvaluateParams).task
    sections = stage_params(ctx, "plan", P.PlanParams).sections_for_coder
    by_item = {it.id: it for it in eval_items(ctx)}
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
            data = by_item[plan_trace.item_id or -1].data
            entry = str(data.get("entry_point") or "") or None
            # code_check runs the program after the item's prompt: a HumanEval header there
            # takes a reply that is only the function body
            header = str(data.get("prompt") or "") or None if task == "code_check" else None
            for j, (text, m) in enumerate(zip(texts, meta, strict=True)):
                program = extract_program(text, entry, header)
                ctx.trace(role="coder", item_id=plan_trace.item_id, parent_id=plan_trace.id,
                          output=text, sample_index=plan_trace.sample_index * p.codes_per_plan + j,
                          parsed={"program": program, "plan_index": plan_trace.sample_index,
                                  "code_index": j}, flag=m.get("error"), **m.get("usage", {}))

    if p.coder == "teacher":
        from engine.teacher import Request, Result

        def requests_for(t: traces.Trace) -> list[Request]:
            # the seed follows the plan index: two plans with the same text still get
            # their own samples (and their own cache entries)
            return [Request(messages=[{"role": "user", "content": prompt(t)}],
                            n=p.codes_per_plan, temperature=p.temperature,
                            max_tokens=p.max_tokens,
                            seed=ctx.recipe.seed * 1000 + t.sample_index)]

        def store_answer(unit: Any, results: list[Result]) -> None:
            r = results[0]
            texts = [c.text for c in r.completions] if not r.error else []
            texts += [""] * (p.codes_per_plan - len(texts))
            used = {"tokens_in": r.tokens_in, "tokens_out": r.tokens_out,
                    "latency_s": r.latency_s, "cost_usd": r.cost_usd,
                    "model": ctx.recipe.teacher.model}
            meta = [{"usage": used if j == 0 else {"model": used["model"]},
                     "error": f"teacher error: {r.error}" if r.error else None}
                    for j in range(p.codes_per_plan)]
            store(unit, texts, meta)

        ask_units(ctx, pending, requests_for, store_answer, batch=p.batch)
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
            ctx.metric("cost/student_gen_tokens", float(sum(s.tokens for o in outs for s in o)))
            for unit, samples in zip(chunk, outs, strict=True):
                store(unit, [s.text for s in samples],
                      [{"usage": {"tokens_out": s.tokens, "model": ctx.recipe.student.model},
                        "error": None} for s in samples])


# -- evaluate -----------------------------------------------------------------------------


def evaluate(ctx: StageContext) -> None:
    from engine.tasks import run_programs

    p = params_of(ctx, P.EvaluateParams)
    by_item = {it.id: it for it in eval_items(ctx)}
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
    from engine.paradigms.explain.report import grid_and_curves

    summary = grid_and_curves(ctx.store, ctx.run_id, list(by_item), p.k, p.budget)
    for name, value, step in summary.metrics:
        ctx.metric(name, value, step)
    ctx.log(summary.text)
