"""What one ELAD round cost and what its scores said, read back from the store as metrics.

Per round r (metric step r):
- teacher tokens, Yes/No calls and rewrite calls apart (``teacher_tokens_yes``,
  ``teacher_tokens_rewrite``, ``teacher_calls_yes``, ``teacher_calls_rewrite``), and the
  outcomes of the check (``revise_accepted``, ``revise_revised``, ``revise_full_rewrite``
  (every step Yes but a wrong answer, or no steps), ``revise_error``);
- the student's extra forward tokens: reading and writing the k chains of explore
  (``student_tokens_explore``) and the cut-chain passes of score (``student_tokens_score``);
- cumulative totals for the accuracy-vs-cost curves: ``teacher_tokens_total`` and
  ``compute_tokens_total`` (teacher + explore + score + training tokens, all rounds <= r);
- the notes' question, whether the intra score points the right way: among the scored
  items, the mean share of steps whose removal left the answer unchanged for items whose
  majority answer is wrong minus for those whose majority answer is right
  (``intra_agree_wrong_minus_right``; > 0: "agree" marks wrong chains, the paper's
  direction; < 0: "disagree" does).

Reads the round's traces and metrics; writes metrics and one log line.
"""

from __future__ import annotations

from statistics import mean

from engine.paradigms.blocks import stage_traces
from engine.stage import StageContext

STAGE = "rounds"


def _round(t: object) -> int:
    return int((getattr(t, "parsed", None) or {}).get("round") or 0)


def _metric_sum(ctx: StageContext, name: str, upto: int, exact: bool = False) -> float:
    op = "=" if exact else "<="
    row = ctx.store.one(f"SELECT SUM(value) FROM metrics WHERE run_id = ? AND stage = ? AND "
                        f"name = ? AND step {op} ?", (ctx.run_id, STAGE, name, upto))
    return float(row[0] or 0) if row else 0.0


def round_costs(ctx: StageContext, r: int) -> dict[str, float]:
    """Round r's own costs (not cumulative)."""
    all_traces = stage_traces(ctx, STAGE)
    revised = [t for t in all_traces if t.role == "revised" and _round(t) == r]
    explore = [t for t in all_traces if t.role == "explore" and _round(t) == r]
    scored = [t for t in all_traces if t.role == "score" and _round(t) == r]
    kinds = [(t.parsed or {}).get("kind") for t in revised]
    out = {f"revise_{k}": float(kinds.count(k)) for k in ("accepted", "revised",
                                                         "full_rewrite", "error")}
    for what in ("yes", "rewrite"):
        out[f"teacher_tokens_{what}"] = float(sum((t.parsed or {}).get(f"{what}_tokens", 0)
                                                  for t in revised))
        out[f"teacher_calls_{what}"] = float(sum((t.parsed or {}).get(f"{what}_calls", 0)
                                                 for t in revised))
    out["student_tokens_explore"] = float(sum((t.tokens_out or 0) + int(
        (t.parsed or {}).get("read_tokens") or 0) for t in explore))
    out["student_tokens_score"] = float(sum((t.tokens_in or 0) + (t.tokens_out or 0)
                                            for t in scored))
    out["train_tokens"] = _metric_sum(ctx, "cost/train_tokens", r, exact=True)
    wrong = [p["agree_share"] for t in scored if (p := t.parsed or {}).get("agree_share")
             is not None and t.verdict == "failed"]
    right = [p["agree_share"] for t in scored if (p := t.parsed or {}).get("agree_share")
             is not None and t.verdict == "passed"]
    if wrong and right:
        out["intra_agree_wrong_minus_right"] = mean(wrong) - mean(right)
    return out


def round_metrics(ctx: StageContext, r: int) -> None:
    """Round r's costs and cumulative totals as metrics with step r; one log line."""
    own = round_costs(ctx, r)
    for name, value in own.items():
        ctx.metric(name, value, r)
    teacher = own["teacher_tokens_yes"] + own["teacher_tokens_rewrite"]
    compute = teacher + own["student_tokens_explore"] + own["student_tokens_score"] + \
        own["train_tokens"]
    teacher_total = teacher + _metric_sum(ctx, "teacher_tokens_round", r - 1)
    compute_total = compute + _metric_sum(ctx, "compute_tokens_round", r - 1)
    ctx.metric("teacher_tokens_round", teacher, r)
    ctx.metric("compute_tokens_round", compute, r)
    ctx.metric("teacher_tokens_total", teacher_total, r)
    ctx.metric("compute_tokens_total", compute_total, r)
    ctx.log(f"round {r}: teacher {own['teacher_tokens_yes']:.0f} tokens on "
            f"{own['teacher_calls_yes']:.0f} Yes/No calls, {own['teacher_tokens_rewrite']:.0f} "
            f"on {own['teacher_calls_rewrite']:.0f} rewrites ({own['revise_accepted']:.0f} "
            f"accepted, {own['revise_revised']:.0f} revised, {own['revise_full_rewrite']:.0f} "
            f"full rewrites); student {own['student_tokens_explore']:.0f} explore + "
            f"{own['student_tokens_score']:.0f} score tokens; compute so far "
            f"{compute_total:.0f} tokens")


def lift(ctx: StageContext) -> None:
    """The last round's accuracy minus the untrained student's, in points (``lift_points``)."""
    from engine.store import runs

    last = ctx.store.one("SELECT value, step FROM metrics WHERE run_id = ? AND stage = ? AND "
                         "name = 'accuracy' ORDER BY step DESC, id DESC LIMIT 1",
                         (ctx.run_id, STAGE))
    before = runs.latest_metrics(ctx.store, ctx.run_id).get("accuracy_base")
    if last is None or before is None:
        return
    points = 100 * (float(last[0]) - before)
    ctx.metric("lift_points", points)
    ctx.log(f"lift after round {last[1]}: {points:+.1f} points (before {before:.3f}, after "
            f"{float(last[0]):.3f})")
