"""The `train` and `evaluate` stages of `lema`: SFT on CoT rows mixed with correction rows.

Rows (loss on the output only, as every SFT row here: ``engine.student.chat``):

- CoT: the student prompt ("Please solve the following math problem. Question: ... Answer:
  Let's think step by step.") -> the cot stage's verified chain (extra CoT samples too);
- corrections (kept ones of the correct and evolve stages), written as
  ``train.corrections`` says: ``full`` (instruction + question + original solution +
  "Incorrect Step:" -> "Step k. / Explanation: ... / Correct Solution: {...}"),
  ``no_explanation``, ``solution_only`` (a CoT row with the corrected chain) or ``none``.

``correction_share`` caps the corrections' share of the rows (a seeded choice); the
validation split's rows pick the checkpoint (never the test split). evaluate: the trained
student, greedy, on the evaluation items, with the lift over the baseline stage.
"""

from __future__ import annotations

import random
from typing import Any

from engine.errors import DistillabError
from engine.paradigms.blocks import (
    evaluate_student,
    params_of,
    stage_params,
    stage_traces,
    train_stage,
    trained_adapter,
)
from engine.paradigms.lema import params as P
from engine.paradigms.lema.formats import parse_triplet
from engine.paradigms.lema.rows import as_chain, corrected_chain, correction_target
from engine.paradigms.lema.stages import output_steps, problem_of, question, student_messages
from engine.prompts import render
from engine.stage import StageContext
from engine.store import runs, traces
from engine.store.items import Item
from engine.store.traces import Trace


def cot_rows(ctx: StageContext, split: str) -> list[dict[str, Any]]:
    """question -> chain rows from the cot stage's unflagged traces of a split."""
    items = {it.id: it for it in ctx.items(split)}
    return [{"prompt": student_messages(ctx, question(items[t.item_id])), "completion": t.output,
             "kind": "cot"}
            for t in stage_traces(ctx, "cot") if t.item_id in items and not t.flag
            and (t.output or "").strip()]


def kept_corrections(ctx: StageContext, split: str) -> list[tuple[Item, Trace, Trace]]:
    """(the problem, the student's path, the kept correction) of the correct and evolve
    stages, for the items of a split."""
    items = {it.id: it for it in ctx.items(split)}
    paths = {t.id: t for stage in ("sample", "evolve") for t in stage_traces(ctx, stage)
             if t.role in ("student", "sampler")}
    return [(problem_of(paths[t.parent_id], items[t.item_id]), paths[t.parent_id], t)
            for stage in ("correct", "evolve") for t in stage_traces(ctx, stage, "corrector")
            if t.verdict == "passed" and t.item_id in items and t.parent_id in paths]


def correction_row(ctx: StageContext, item: Item, path: Trace, fix: Trace, writing: str,
                   template: str) -> dict[str, Any]:
    """One correction written as ``writing`` (see the module doc)."""
    chain = as_chain(path.output or "")
    triplet = parse_triplet(fix.output or "", len(chain.steps))
    if writing == "solution_only":
        return {"prompt": student_messages(ctx, question(item)),
                "completion": corrected_chain(triplet, chain), "kind": writing}
    prompt = render(template, ctx.loaded.base_dir, question=question(item),
                    solution=chain.text())
    return {"prompt": [{"role": "user", "content": prompt}],
            "completion": correction_target(triplet, writing), "kind": writing}


def training_rows(ctx: StageContext, split: str) -> list[dict[str, Any]]:
    """The mixed rows of a split, as the train stage's parameters say."""
    p = stage_params(ctx, "train", P.TrainParams)
    rows = cot_rows(ctx, split)
    fixes: list[dict[str, Any]] = []
    if p.corrections != "none":
        fixes = [correction_row(ctx, item, path, fix, p.corrections, p.correction_template)
                 for item, path, fix in kept_corrections(ctx, split)]
    rng = random.Random(ctx.recipe.seed)
    if p.correction_share is not None and rows:
        cap = int(p.correction_share * len(rows) / (1 - p.correction_share))
        if len(fixes) > cap:
            fixes = rng.sample(fixes, cap)
    mixed = rows + fixes
    rng.shuffle(mixed)
    return mixed[:p.max_rows] if p.max_rows and split == "train" else mixed


def train(ctx: StageContext) -> None:
    p = params_of(ctx, P.TrainParams)
    rows = training_rows(ctx, "train")
    if not rows:
        raise DistillabError("no training rows: every CoT solution was flagged and no "
                             "correction was kept",
                             "look at the cot and correct stages' traces (flag says why)")
    eval_rows = training_rows(ctx, "validation")
    kinds = {k: sum(r["kind"] == k for r in rows) for k in ("cot", p.corrections)}
    ctx.metric("rows_cot", float(kinds["cot"]))
    ctx.metric("rows_correction", float(len(rows) - kinds["cot"]))
    ctx.log(f"training on {len(rows)} rows ({kinds['cot']} CoT, {len(rows) - kinds['cot']} "
            f"corrections written as {p.corrections}), validating on {len(eval_rows)}")
    ctx.metric("data_teacher_tokens", float(data_tokens(ctx, p.corrections != "none")))
    strip = [{"prompt": r["prompt"], "completion": r["completion"]} for r in rows]
    train_stage(ctx, strip, eval_rows=[{"prompt": r["prompt"], "completion": r["completion"]}
                                       for r in eval_rows], meta={"corrections": p.corrections})


def data_tokens(ctx: StageContext, corrections: bool) -> int:
    """Teacher tokens (in + out) the arm's training data cost: every CoT call (extra ones
    too) and, when it trains on corrections, every correction call (dropped ones too) and
    the evolution's. The study compares arms on it: the arms that write corrections and
    the "more CoT" arm spend the same; CoT only spends less (sample and correct run in
    every arm, shared, so the study's teacher_tokens axis cannot tell the arms apart)."""
    stages = ("cot", "correct", "evolve") if corrections else ("cot",)
    return sum((t.tokens_in or 0) + (t.tokens_out or 0) for stage in stages
               for t in stage_traces(ctx, stage) if t.role not in ("student", "student-base"))


def evaluate(ctx: StageContext) -> None:
    p = params_of(ctx, P.EvaluateParams)
    after = evaluate_student(ctx, adapter=trained_adapter(ctx, "train"),
                             prompt_for=lambda it: student_messages(ctx, question(it)),
                             task=p.task, what="trained student", batch_size=p.batch_size,
                             steps_for=output_steps)
    before = runs.latest_metrics(ctx.store, ctx.run_id).get("accuracy_base")
    if before is None:
        return
    paired = _paired(ctx)
    lift = 100 * (after.mean - before)
    ctx.metric("lift_points", lift)
    if paired:
        from engine.metrics import mean_ci

        ci = mean_ci([100.0 * (a - b) for a, b in paired], seed=ctx.recipe.seed)
        ctx.metric("lift_points_ci_low", ci.low)
        ctx.metric("lift_points_ci_high", ci.high)
        ctx.log(f"lift: {lift:+.1f} points (paired 95% CI {ci.low:+.1f} to {ci.high:+.1f}; "
                f"before {before:.3f}, after {after.mean:.3f})")


def _paired(ctx: StageContext) -> list[tuple[float, float]]:
    """(after, before) pass of sample 0 per item evaluated by both stages."""
    def firsts(stage: str) -> dict[int, float]:
        return {r["item_id"]: float(r["passed"]) for r in
                traces.evaluations(ctx.store, ctx.run_id, stage)
                if r["sample_index"] == 0 and r["passed"] is not None}

    after, before = firsts("evaluate"), firsts("baseline")
    return [(after[i], before[i]) for i in after if i in before]


__all__ = ["evaluate", "train", "training_rows"]
