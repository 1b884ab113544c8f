"""The `dpo` and `evaluate` stages of `supercorrect`.

dpo: TRL DPO on the stored pairs, starting from the HSFT adapter. The reference model is
the HSFT student: TRL 1.16 gives a PEFT model that continues a saved adapter a frozen copy
of it (adapter "ref") and computes the reference log-probs with it (tests check that the
first step's reward margin is 0). Each pair's prompt is the student's chat prompt followed
by its steps 1..k-1; chosen and rejected continue it with step k, and no end-of-text token
follows them (``continuation``): the shared prefix cancels out of the DPO margin, so the
loss is on step k only, as in the paper. The stage's own learning rate, epochs and warm-up
replace the recipe's training section (see params.py for the defaults' reasons).

evaluate: the final student (the DPO adapter, or the HSFT one when DPO is off) on the
evaluation items: accuracy with CIs, template share and answer spread, and when the HSFT
student was evaluated too, DPO's paired lift over it on the same items. Without a DPO
adapter that evaluation is hsft_eval's over again (same adapter, items, prompts and sampling
settings), so evaluate takes hsft_eval's evaluation rows over, item by item (each row still
names the hsft_eval trace it judged), and reports from them: no generation.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from engine.errors import DistillabError
from engine.paradigms.blocks import (
    accuracy_from_store,
    eval_items,
    params_of,
    stage_traces,
    train_stage,
    trained_adapter,
)
from engine.paradigms.supercorrect import params as P
from engine.paradigms.supercorrect.report import paired_lift, report_outputs
from engine.paradigms.supercorrect.stages import evaluate_adapter, student_messages
from engine.stage import StageContext
from engine.store import traces
from engine.store.db import from_json
from engine.store.items import Item


def dpo_rows(ctx: StageContext, tokenizer: Any) -> list[dict[str, Any]]:
    """The pairs stage's pairs as DPO rows: the prompt rendered with the student's chat
    template, then the shared prefix; chosen and rejected as stored."""
    from engine.student.chat import render_prompt

    rows = []
    for row in ctx.store.query("SELECT chosen, rejected, meta FROM pairs WHERE run_id = ? AND "
                               "stage = 'pairs' ORDER BY id", (ctx.run_id,)):
        meta = from_json(row["meta"]) or {}
        rows.append({"prompt": render_prompt(tokenizer, meta["messages"]) + meta["prefix"],
                     "chosen": row["chosen"], "rejected": row["rejected"]})
    return rows


def dpo(ctx: StageContext) -> None:
    from engine.student.load import load_tokenizer, resolve_model

    p = params_of(ctx, P.DpoParams)
    if not p.enabled:
        ctx.log("dpo.enabled is false: the student stays the HSFT one")
        return
    start = trained_adapter(ctx, "hsft")
    tokenizer = load_tokenizer(start if start is not None else resolve_model(ctx.recipe.student.model))
    rows = dpo_rows(ctx, tokenizer)
    if not rows:
        raise DistillabError("no preference pairs to train DPO on",
                             "look at the pairs stage's log (why each wrong solution gave no "
                             "pair), solve more problems (stages.solve.samples), or set "
                             "stages.dpo.enabled: false")
    training = ctx.recipe.training.model_copy(update={
        "learning_rate": p.learning_rate, "epochs": p.epochs, "max_steps": p.max_steps,
        "warmup_ratio": p.warmup_ratio})
    ctx.log(f"DPO on {len(rows)} pairs from the HSFT adapter (reference: the HSFT student), "
            f"beta {p.beta}, lr {p.learning_rate:g}, {p.epochs:g} epochs")
    train_stage(ctx, rows, kind="dpo", init_adapter=start, beta=p.beta, training=training,
                continuation=True)


def differs_from_hsft_eval(ctx: StageContext, items: list[Item]) -> str | None:
    """Why evaluate's evaluation would not be hsft_eval's over again; None when it would.

    The same evaluation: no DPO adapter (the student is the HSFT one hsft_eval measured);
    hsft_eval judged exactly these items, each with ``evaluation.samples`` samples, by the
    same student model on the prompt evaluate would give now (a template file edited in
    between gives other prompts); and this stage generated nothing of its own yet (a resumed
    evaluation that generated goes on generating). The sampling settings (the evaluation
    section, evaluate's task, answer format and batch size, the seed) are read by both
    stages from the run's one recipe snapshot, so they cannot differ within a run."""
    if trained_adapter(ctx, "dpo") is not None:
        return "the student is the DPO one"
    if stage_traces(ctx, ctx.stage):
        return "this stage already generated part of its evaluation"
    rows: dict[int, list[int]] = defaultdict(list)
    for row in traces.evaluations(ctx.store, ctx.run_id, "hsft_eval"):
        rows[row["item_id"]].append(row["sample_index"])
    if not rows:
        return "hsft_eval evaluated nothing (hsft_eval.enabled is false?)"
    if set(rows) != {it.id for it in items}:
        return "hsft_eval evaluated other items"
    samples = list(range(ctx.recipe.evaluation.samples))
    if any(sorted(indices) != samples for indices in rows.values()):
        return f"hsft_eval did not take {len(samples)} samples of every item"
    prompts = {it.id: student_messages(ctx, it)[-1]["content"] for it in items}
    for t in stage_traces(ctx, "hsft_eval"):
        if t.item_id is None or t.prompt != prompts.get(t.item_id) or \
                t.model != ctx.recipe.student.model:
            return "hsft_eval's prompts or student model differ from this stage's"
    return None


def take_over_hsft_eval(ctx: StageContext, items: list[Item]) -> None:
    """hsft_eval's evaluation rows as this stage's, committed item by item (a resumed stage
    copies only the items not copied yet); each row keeps the trace it judged."""
    rows: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in traces.evaluations(ctx.store, ctx.run_id, "hsft_eval"):
        rows[row["item_id"]].append(row)
    for unit in ctx.pending(items, key=lambda it: it.item_hash):
        with ctx.commit(unit):
            for row in rows[unit.value.id]:
                traces.add_evaluation(ctx.store, run_id=ctx.run_id, stage=ctx.stage,
                                      item_id=row["item_id"], trace_id=row["trace_id"],
                                      sample_index=row["sample_index"], passed=row["passed"],
                                      score=row["score"], details=row["details"],
                                      time_s=row["time_s"])


def evaluate(ctx: StageContext) -> None:
    items = eval_items(ctx)
    differs = differs_from_hsft_eval(ctx, items)
    if differs is None:
        ctx.log("no DPO: the student, items, samples, prompts and sampling settings are "
                "hsft_eval's, so evaluate takes hsft_eval's evaluation over instead of "
                "generating it again")
        take_over_hsft_eval(ctx, items)
        accuracy_from_store(ctx, metric="accuracy", what="HSFT student (no DPO; hsft_eval's "
                            "evaluation)")
        report_outputs(ctx, "accuracy", "hsft_eval")
        return
    adapter = trained_adapter(ctx, "dpo") or trained_adapter(ctx, "hsft")
    trained_dpo = trained_adapter(ctx, "dpo") is not None
    if not trained_dpo:
        ctx.log(f"no DPO, but evaluate generates its own evaluation: {differs}")
    evaluate_adapter(ctx, adapter, role="student", metric="accuracy",
                     what="student after DPO" if trained_dpo else "HSFT student (no DPO)")
    if trained_dpo:
        paired_lift(ctx, "hsft_eval")


__all__ = ["differs_from_hsft_eval", "dpo", "dpo_rows", "evaluate", "take_over_hsft_eval"]
