"""The `analyse` stage: ΔPPL, LEMA's "sense of error", before and after training.

For each kept correction of a split (validation by default: never trained on), the
student's wrong chain and the corrected chain (its steps before k, then the teacher's)
are scored after the student's CoT prompt (``engine.student.score``, batched), under the
base student and under the trained one. ΔPPL = PPL(wrong) - PPL(corrected); LEMA reports
that it grows with training. Per item, a trace (role ``delta-ppl``, child of the
correction) holds the four perplexities in ``parsed``; the stage's metrics give the mean
ΔPPL before and after with bootstrap intervals and the mean paired change.
"""

from __future__ import annotations

import math
from typing import Any

from engine.metrics import mean_ci
from engine.paradigms.blocks import load_for_inference, params_of, trained_adapter
from engine.paradigms.lema import params as P
from engine.paradigms.lema.formats import parse_triplet
from engine.paradigms.lema.rows import as_chain, corrected_chain
from engine.paradigms.lema.stages import question, student_messages
from engine.paradigms.lema.train import kept_corrections
from engine.stage import StageContext, Unit


def perplexities(model: Any, tokenizer: Any, prompts: list[Any], targets: list[str],
                 batch_size: int) -> list[float]:
    from engine.student.score import score

    return [s.ppl for s in score(model, tokenizer, prompts, targets, batch_size=batch_size)]


def analyse(ctx: StageContext) -> None:
    p = params_of(ctx, P.AnalyseParams)
    if not p.enabled:
        ctx.log("analyse.enabled is false: no ΔPPL")
        return
    pairs = kept_corrections(ctx, p.split)[:p.limit] if p.limit else \
        kept_corrections(ctx, p.split)
    if not pairs:
        ctx.log(f"no kept corrections on the {p.split} split: no ΔPPL", "warning")
        return
    prompts, wrong, right = [], [], []
    for item, path, fix in pairs:
        chain = as_chain(path.output or "")
        prompts.append(student_messages(ctx, question(item)))
        wrong.append(chain.text())
        right.append(corrected_chain(parse_triplet(fix.output or "", len(chain.steps)), chain))
    unit = next(iter(ctx.pending([f"{p.split}:{len(pairs)}"], key=str)), None)
    if unit is None:
        return
    scored: dict[str, list[float]] = {}
    for when, adapter in (("before", None), ("after", trained_adapter(ctx, "train"))):
        model, tokenizer = load_for_inference(ctx, adapter)
        both = perplexities(model, tokenizer, prompts + prompts, wrong + right, p.batch_size)
        scored[f"wrong_{when}"], scored[f"right_{when}"] = both[:len(pairs)], both[len(pairs):]
        del model
    _store(ctx, unit, pairs, scored)


def _store(ctx: StageContext, unit: Unit[str], pairs: list[Any],
           scored: dict[str, list[float]]) -> None:
    deltas: dict[str, list[float]] = {"before": [], "after": []}
    with ctx.commit(unit):
        for i, (item, _path, fix) in enumerate(pairs):
            row = {k: v[i] for k, v in scored.items()}
            row["delta_before"] = row["wrong_before"] - row["right_before"]
            row["delta_after"] = row["wrong_after"] - row["right_after"]
            if all(math.isfinite(v) for v in row.values()):
                deltas["before"].append(row["delta_before"])
                deltas["after"].append(row["delta_after"])
            ctx.trace(role="delta-ppl", item_id=item.id, model=ctx.recipe.student.model,
                      parent_id=fix.id, output=f"ΔPPL {row['delta_before']:.3f} -> "
                      f"{row['delta_after']:.3f}", parsed={**row, "question": question(item)})
        for when, values in deltas.items():
            est = mean_ci(values, seed=ctx.recipe.seed)
            ctx.metric(f"delta_ppl_{when}", est.mean)
            ctx.metric(f"delta_ppl_{when}_ci_low", est.low)
            ctx.metric(f"delta_ppl_{when}_ci_high", est.high)
        change = mean_ci([a - b for a, b in zip(deltas["after"], deltas["before"], strict=True)],
                         seed=ctx.recipe.seed)
        ctx.metric("delta_ppl_change", change.mean)
        ctx.metric("delta_ppl_change_ci_low", change.low)
        ctx.metric("delta_ppl_change_ci_high", change.high)
        ctx.metric("delta_ppl_n", float(len(deltas["before"])))
    ctx.log(f"ΔPPL (wrong - corrected) over {len(deltas['before'])} corrections: "
            f"{mean_ci(deltas['before']).mean:.3f} before, {mean_ci(deltas['after']).mean:.3f} "
            f"after training (change {change.mean:+.3f}, 95% CI {change.low:+.3f} to "
            f"{change.high:+.3f})")


__all__ = ["analyse"]
