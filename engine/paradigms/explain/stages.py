"""Stages 1-3 of the explain paradigm: explain (the teacher's editorials), weight, train.

explain: the teacher sees problem + oracle program and writes a four-section editorial
(or, ``mode: solve``, solves alone: the solve-based baseline); each section is a step.
weight: per-example training weights, kept as data on the run (``weights.json`` and an
artifact), not as traces. train: QLoRA SFT of the Reasoner on problem -> editorial (or
problem -> code for the code-FT baseline; none for the no-hint baseline).
"""

from __future__ import annotations

from typing import Any

from engine.paradigms.blocks import (
    ask_units,
    params_of,
    stage_params,
    stage_traces,
    train_stage,
)
from engine.paradigms.explain import params as P
from engine.paradigms.explain.editorial import (
    SECTION_INSTRUCTIONS,
    SECTIONS,
    compose,
    parse_editorial,
)
from engine.paradigms.explain.weights import weights as weight_table
from engine.prompts import render
from engine.stage import StageContext
from engine.store import StepIn, runs
from engine.store.items import Item

# -- helpers ------------------------------------------------------------------------------


def _problem(item: Item) -> str:
    return str(item.data.get("problem", ""))


def reasoner_messages(ctx: StageContext, item: Item) -> list[dict[str, str]]:
    """The Reasoner's prompt for an item (training and plan sampling use the same)."""
    template = stage_params(ctx, "train", P.TrainParams).template
    return [{"role": "user", "content": render(template, ctx.loaded.base_dir,
                                               problem=_problem(item))}]


# -- stage 1: explain ---------------------------------------------------------------------


def explain(ctx: StageContext) -> None:
    from engine.teacher import Request

    p = params_of(ctx, P.ExplainParams)
    todo = [it for split in p.splits for it in ctx.items(split)]
    max_tokens = p.max_tokens or ctx.recipe.teacher.max_tokens
    flagged = 0

    def requests_for(item: Item) -> list[Request]:
        return [Request(messages=[{"role": "user", "content": prompt}], max_tokens=max_tokens,
                        temperature=ctx.recipe.teacher.temperature)
                for prompt in _explain_prompts(ctx, p, item)]

    def store(unit: Any, results: list[Any]) -> None:
        nonlocal flagged
        flagged += _store_explanation(ctx, p, unit, requests_for(unit.value), results)

    ask_units(ctx, list(ctx.pending(todo, key=lambda it: it.item_hash)), requests_for, store,
              batch=p.batch)
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
    """One unit: the weight table of the training split, as data on the run (an artifact
    with the table in its meta and ``weights.json``), not as traces."""
    import json

    p = params_of(ctx, P.WeightParams)
    train = ctx.items("train")
    for unit in ctx.pending([p.scheme], key=lambda scheme: f"weights:{scheme}"):
        table = weight_table([it.data for it in train], p.scheme,
                             difficulty_field=p.difficulty_field, date_field=p.date_field,
                             difficulty_weights=p.difficulty_weights,
                             recency_floor=p.recency_floor)
        by_item = {str(it.id): [w, why] for it, (w, why) in zip(train, table, strict=True)}
        path = ctx.files / "weights.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(by_item, indent=1))
        with ctx.commit(unit):
            runs.add_artifact(ctx.store, ctx.run_id, "weights", path,
                              {"stage": ctx.stage, "scheme": unit.value, "weights": by_item})
        spread = [w for w, _ in table]
        if spread:
            ctx.log(f"weights ({p.scheme}): {len(spread)} items, min {min(spread):.2f}, "
                    f"max {max(spread):.2f}")


def item_weights(ctx: StageContext) -> dict[int, float]:
    """item id -> training weight from the weight stage (empty: none stored)."""
    found = [a for a in runs.artifacts(ctx.store, ctx.run_id) if a["kind"] == "weights"]
    table = (found[-1]["meta"] or {}).get("weights", {}) if found else {}
    return {int(k): float(v[0]) for k, v in table.items()}


# -- stage 3: train -----------------------------------------------------------------------


def _training_rows(ctx: StageContext, split: str, target: str,
                   sections: list[str]) -> list[dict[str, Any]]:
    """problem -> editorial rows from unflagged explanations, or problem -> oracle program."""
    weights = item_weights(ctx)
    pairs: list[tuple[Item, str]] = []
    if target == "code":
        pairs = [(it, str(it.data.get("solution", ""))) for it in ctx.items(split)]
    else:
        wanted = {it.id: it for it in ctx.items(split)}
        for t in stage_traces(ctx, "explain", "explainer"):
            item = wanted.get(t.item_id or -1)
            if item is not None and not t.flag:
                pairs.append((item, compose(t.parsed["sections"], sections)))
    return [{"prompt": reasoner_messages(ctx, item), "completion": completion,
             "weight": float(weights.get(item.id) or 1.0)}
            for item, completion in pairs if completion.strip()]


def train(ctx: StageContext) -> None:
    p = params_of(ctx, P.TrainParams)
    if p.target == "none":
        ctx.log("train.target is none: no training (no-hint baseline)")
        return
    rows = _training_rows(ctx, "train", p.target, p.sections)
    if not rows:
        from engine.errors import DistillabError

        raise DistillabError("no usable training examples: every explanation was flagged",
                             "look at the flagged traces; try explain.per_section: true "
                             "or a stronger teacher")
    eval_rows = _training_rows(ctx, "validation", p.target, p.sections) or None
    ctx.log(f"training the Reasoner on {len(rows)} examples"
            f"{f', validating on {len(eval_rows)}' if eval_rows else ''}")
    train_stage(ctx, rows, eval_rows=eval_rows, folder="reasoner")
