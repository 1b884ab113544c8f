"""Paradigm `explain`: Li & Mooney (2024), distilling algorithmic reasoning by explaining programs.

Stages: explain (the teacher writes a four-section editorial of the oracle program) ->
weight (per-example training weights) -> train (the student "Reasoner" learns problem ->
editorial) -> plan (M plans per evaluation problem) -> code (a Coder writes T programs per
plan) -> evaluate (programs run in the sandbox; solve@k, the M x T grid, cost curves).
Recipe variants give the baselines: no hint (train.target none, no plans), solve-based
distillation (explain.mode solve), problem -> code fine-tuning (train.target code).
"""

from __future__ import annotations

from typing import Any

from engine.paradigms import Paradigm, StageSpec
from engine.paradigms import explain_params as P
from engine.paradigms.explain_eval import ask_all, params_of, stage_traces
from engine.paradigms.explain_parts import SECTION_INSTRUCTIONS, SECTIONS, compose, parse_editorial
from engine.paradigms.explain_parts import weights as weight_table
from engine.prompts import render
from engine.stage import StageContext
from engine.store import StepIn
from engine.store.items import Item

# -- helpers ------------------------------------------------------------------------------


def _problem(item: Item) -> str:
    return str(item.data.get("problem", ""))


def _chunks(values: list[Any], size: int) -> list[list[Any]]:
    return [values[i:i + size] for i in range(0, len(values), size)]


def _reasoner_messages(ctx: StageContext, item: Item) -> list[dict[str, str]]:
    template = ctx.loaded.stage_params["train"].template  # type: ignore[attr-defined]
    return [{"role": "user", "content": render(template, ctx.loaded.base_dir,
                                               problem=_problem(item))}]


# -- stage 1: explain ---------------------------------------------------------------------


def explain(ctx: StageContext) -> None:
    from engine.teacher import Request, open_teacher

    p = params_of(ctx, P.ExplainParams)
    todo = [it for split in p.splits for it in ctx.items(split)]
    pending = list(ctx.pending(todo, key=lambda it: it.item_hash))
    if not pending:
        return
    max_tokens = p.max_tokens or ctx.recipe.teacher.max_tokens
    flagged = 0
    with open_teacher(ctx.recipe.teacher, store=ctx.store, run_id=ctx.run_id,
                      stage=ctx.stage) as teacher:
        for chunk in _chunks(pending, p.batch or ctx.recipe.teacher.concurrency):
            requests: list[Any] = []
            spans: list[tuple[int, int]] = []
            for unit in chunk:
                start = len(requests)
                for prompt in _explain_prompts(ctx, p, unit.value):
                    requests.append(Request(messages=[{"role": "user", "content": prompt}],
                                            max_tokens=max_tokens,
                                            temperature=ctx.recipe.teacher.temperature))
                spans.append((start, len(requests)))
            results, stop = ask_all(teacher, requests)
            for unit, (a, b) in zip(chunk, spans, strict=True):
                if all(r is not None for r in results[a:b]):
                    flagged += _store_explanation(ctx, p, unit, requests[a:b], results[a:b])
            if stop is not None:
                raise stop
    if flagged:
        ctx.log(f"{flagged} explanation(s) flagged and excluded from training; the Traces "
                "view filters them with verdict 'flagged'", "warning")


def _explain_prompts(ctx: StageContext, p: P.ExplainParams, item: Item) -> list[str]:
    base, problem, solution = ctx.loaded.base_dir, _problem(item), str(item.data.get("solution"))
    if p.mode == "solve":
        return [render(p.solve_template, base, problem=problem)]
    if p.per_section:
        return [render(p.section_template, base, problem=problem, solution=solution,
                       section_instruction=SECTION_INSTRUCTIONS[key]) for key in SECTIONS]
    return [render(p.template, base, problem=problem, solution=solution)]


def _store_explanation(ctx: StageContext, p: P.ExplainParams, unit: Any, requests: list[Any],
                       results: list[Any]) -> int:
    item: Item = unit.value
    errors = [r.error for r in results if r.error]
    texts = [r.completions[0].text if not r.error and r.completions else "" for r in results]
    if p.mode == "solve":
        output = texts[0]
        sections = {"step_by_step": output.strip()} if output.strip() else {}
        flag = None if sections else "empty answer"
    elif p.per_section:
        sections = {k: t.strip() for k, t in zip(SECTIONS, texts, strict=True) if t.strip()}
        output = compose(sections, list(SECTIONS))
        missing = [SECTIONS[k][0] for k in SECTIONS if k not in sections]
        flag = f"missing sections: {', '.join(missing)}" if missing else None
    else:
        output = texts[0]
        editorial = parse_editorial(output)
        sections, flag = editorial.sections, editorial.flag
    if errors:
        flag = f"teacher error: {errors[0]}"
    with ctx.commit(unit):
        ctx.trace(role="explainer", item_id=item.id, model=ctx.recipe.teacher.model,
                  prompt="\n\n---\n\n".join(r.messages[-1]["content"] for r in requests),
                  output=output, parsed={"sections": sections, "mode": p.mode},
                  tokens_in=sum(r.tokens_in for r in results),
                  tokens_out=sum(r.tokens_out for r in results),
                  latency_s=sum(r.latency_s for r in results),
                  cost_usd=sum(r.cost_usd for r in results),
                  verdict="flagged" if flag else "ok", flag=flag,
                  steps=[StepIn(text, kind=key) for key, text in sections.items()])
    return 1 if flag else 0


# -- stage 2: weight ----------------------------------------------------------------------


def weight(ctx: StageContext) -> None:
    p = params_of(ctx, P.WeightParams)
    train = ctx.items("train")
    table = weight_table([it.data for it in train], p.scheme, difficulty_field=p.difficulty_field,
                         date_field=p.date_field, difficulty_weights=p.difficulty_weights,
                         recency_floor=p.recency_floor)
    by_hash = {it.item_hash: wt for it, wt in zip(train, table, strict=True)}
    for unit in ctx.pending(train, key=lambda it: it.item_hash):
        w, why = by_hash[unit.value.item_hash]
        with ctx.commit(unit):
            ctx.trace(role="weight", item_id=unit.value.id, output=why, score=w,
                      model=p.scheme)


# -- stage 3: train -----------------------------------------------------------------------


def _training_rows(ctx: StageContext, split: str, target: str,
                   sections: list[str]) -> list[dict[str, Any]]:
    """problem -> editorial rows from unflagged explanations, or problem -> oracle program."""
    weights = {t.item_id: t.score for t in stage_traces(ctx, "weight")}
    pairs: list[tuple[Item, str]] = []
    if target == "code":
        pairs = [(it, str(it.data.get("solution", ""))) for it in ctx.items(split)]
    else:
        wanted = {it.id: it for it in ctx.items(split)}
        for t in stage_traces(ctx, "explain", "explainer"):
            item = wanted.get(t.item_id or -1)
            if item is not None and not t.flag:
                pairs.append((item, compose(t.parsed["sections"], sections)))
    return [{"prompt": _reasoner_messages(ctx, item), "completion": completion,
             "weight": float(weights.get(item.id) or 1.0)}
            for item, completion in pairs if completion.strip()]


def train(ctx: StageContext) -> None:
    p = params_of(ctx, P.TrainParams)
    if p.target == "none":
        ctx.log("train.target is none: no training (no-hint baseline)")
        return
    from engine.student import train_sft

    rows = _training_rows(ctx, "train", p.target, p.sections)
    if not rows:
        from engine.errors import DistillabError

        raise DistillabError("no usable training examples: every explanation was flagged",
                             "look at the flagged traces; try explain.per_section: true "
                             "or a stronger teacher")
    eval_rows = _training_rows(ctx, "validation", p.target, p.sections) or None
    ctx.log(f"training the Reasoner on {len(rows)} examples"
            f"{f', validating on {len(eval_rows)}' if eval_rows else ''}")
    result = train_sft(rows, student=ctx.recipe.student, training=ctx.recipe.training,
                       out_dir=ctx.files / "reasoner", eval_rows=eval_rows,
                       on_event=lambda name, value, step: _train_event(ctx, name, value, step),
                       should_stop=ctx.cancel_requested, on_log=ctx.log, seed=ctx.recipe.seed)
    from engine.store import runs

    runs.add_artifact(ctx.store, ctx.run_id, "adapter", result.adapter_dir,
                      {"stage": "train", "examples": len(rows)})


def _train_event(ctx: StageContext, name: str, value: float, step: int) -> None:
    if name == "progress":
        ctx.progress(step, int(value), "training steps")
    else:
        ctx.metric(f"train/{name}", value, step)


# -- stages 4-6 are in explain_eval.py -------------------------------------------------------

from engine.paradigms.explain_eval import code, evaluate, plan  # noqa: E402

PARADIGM = Paradigm(
    name="explain",
    title="Explain solution programs",
    paper="Li & Mooney 2024, Distilling Algorithmic Reasoning from LLMs via Explaining "
          "Solution Programs",
    description="The teacher explains oracle programs; the student learns to write such "
                "plans; a Coder implements sampled plans; solve@k over M plans x T codes.",
    default_recipe="explain-demo.yaml",
    stages=(
        StageSpec("explain", explain, P.ExplainParams, "Teacher writes a 4-section editorial "
                  "of each oracle program."),
        StageSpec("weight", weight, P.WeightParams, "Per-example training weights."),
        StageSpec("train", train, P.TrainParams, "QLoRA SFT of the Reasoner."),
        StageSpec("plan", plan, P.PlanParams, "Sample M plans per evaluation problem."),
        StageSpec("code", code, P.CodeParams, "The Coder writes T programs per plan."),
        StageSpec("evaluate", evaluate, P.EvaluateParams, "Run programs; solve@k, grid, cost."),
    ),
)

__all__ = ["PARADIGM"]
