"""What `supercorrect` reports about an evaluation beyond accuracy, read back from the store.

- the share of outputs that keep the template (parse with no reason to flag them), with a
  Wilson interval;
- the spread of answers over the m samples of a problem (the paper's stability claim): per
  problem, the chance that two of its samples give different answers (0 when all agree:
  1 - sum p_a^2 with the unbiased m/(m-1) correction) and the modal answer's share; means
  over problems with bootstrap intervals;
- the paired lift of one evaluating stage over another on the same items (DPO over HSFT):
  per-item pass rates over samples, bootstrap interval of the difference, McNemar's exact
  test when the outcomes are pass/fail (one sample), else a sign-flip test.

Reads a stage's traces and evaluations; writes metrics and log lines.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from engine.metrics import accuracy, mean_ci
from engine.paradigms.blocks import stage_traces
from engine.paradigms.supercorrect.formats import parse_template
from engine.stage import StageContext
from engine.store import traces


def disagreement(answers: list[str]) -> float:
    """The chance that two different samples of one problem give different answers."""
    m = len(answers)
    if m < 2:
        return 0.0
    same = sum(c * (c - 1) for c in Counter(answers).values())
    return 1.0 - same / (m * (m - 1))


def _norm(answer: object) -> str:
    return "".join(str(answer).split()) if answer is not None else "<none>"


def report_outputs(ctx: StageContext, metric: str, stage: str | None = None) -> None:
    """Template share and answer spread of a stage's student outputs (this stage's, or
    ``stage``'s when this one took that stage's evaluation over), as this stage's metrics."""
    outputs = [t for t in stage_traces(ctx, stage or ctx.stage) if t.role.startswith("student")]
    if not outputs:
        return
    kept = [parse_template(t.output or "").ok for t in outputs]
    share = accuracy(kept)
    for suffix, value in (("", share.mean), ("_ci_low", share.low), ("_ci_high", share.high)):
        ctx.metric(f"{metric}_template_share{suffix}", value)
    ctx.log(f"outputs that keep the template: {sum(kept)}/{len(kept)} = {share.mean:.3f} "
            f"(95% CI {share.low:.3f}-{share.high:.3f})")
    by_item: dict[int | None, list[str]] = defaultdict(list)
    for t in outputs:
        by_item[t.item_id].append(_norm((t.parsed or {}).get("predicted")))
    if min(len(a) for a in by_item.values()) < 2:
        return
    spread = mean_ci([disagreement(a) for a in by_item.values()])
    modal = mean_ci([Counter(a).most_common(1)[0][1] / len(a) for a in by_item.values()])
    for name, est in (("answer_disagreement", spread), ("answer_modal_share", modal)):
        ctx.metric(f"{metric}_{name}", est.mean)
        ctx.metric(f"{metric}_{name}_ci_low", est.low)
        ctx.metric(f"{metric}_{name}_ci_high", est.high)
    ctx.log(f"answers over {len(outputs) // len(by_item)} samples a problem: two samples "
            f"disagree with chance {spread.mean:.3f} (95% CI {spread.low:.3f}-{spread.high:.3f}); "
            f"the modal answer's share {modal.mean:.3f}")


def _pass_rates(ctx: StageContext, stage: str) -> dict[int, float]:
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for row in traces.evaluations(ctx.store, ctx.run_id, stage):
        if row["passed"] is not None and row["item_id"] is not None:
            counts[row["item_id"]][0] += 1
            counts[row["item_id"]][1] += int(row["passed"])
    return {item: ok / n for item, (n, ok) in counts.items()}


def paired_lift(ctx: StageContext, before_stage: str, name: str = "dpo_lift") -> None:
    """This stage's accuracy minus ``before_stage``'s on the items both evaluated, paired."""
    from engine.studies.stats import paired_test

    before, after = _pass_rates(ctx, before_stage), _pass_rates(ctx, ctx.stage)
    shared = sorted(set(before) & set(after))
    if not shared:
        return
    result = paired_test([[before[i] for i in shared]], [[after[i] for i in shared]])
    diff = result.diff
    for suffix, value in (("", diff.mean), ("_ci_low", diff.low), ("_ci_high", diff.high),
                          ("_p", result.p)):
        ctx.metric(f"{name}_points{suffix}", 100 * value if suffix != "_p" else value)
    ctx.log(f"{name.replace('_', ' ')}: {100 * diff.mean:+.1f} points (95% CI "
            f"{100 * diff.low:+.1f} to {100 * diff.high:+.1f}; {result.test} p={result.p:.3g}; "
            f"{result.wins} items up, {result.losses} down, {result.ties} the same; "
            f"n={len(shared)})")
