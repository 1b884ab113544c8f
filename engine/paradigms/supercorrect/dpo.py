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
student was evaluated too, DPO's paired lift over it on the same items.
"""

from __future__ import annotations

from typing import Any

from engine.errors import DistillabError
from engine.paradigms.blocks import params_of, train_stage, trained_adapter
from engine.paradigms.supercorrect import params as P
from engine.paradigms.supercorrect.report import paired_lift
from engine.paradigms.supercorrect.stages import evaluate_adapter
from engine.stage import StageContext
from engine.store.db import from_json


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


def evaluate(ctx: StageContext) -> None:
    adapter = trained_adapter(ctx, "dpo") or trained_adapter(ctx, "hsft")
    trained_dpo = trained_adapter(ctx, "dpo") is not None
    evaluate_adapter(ctx, adapter, role="student", metric="accuracy",
                     what="student after DPO" if trained_dpo else "HSFT student (no DPO)")
    if trained_dpo:
        paired_lift(ctx, "hsft_eval")


__all__ = ["dpo", "dpo_rows", "evaluate"]
