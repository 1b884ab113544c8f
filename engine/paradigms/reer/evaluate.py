"""REER's evaluate stage: judged quality of the student, and PPL change vs judged quality.

1. On the evaluation items the trained student answers (greedy unless the recipe says
   otherwise), and so does the no-thinking baseline; the judge (the recipe's teacher,
   with the prompts of ``engine.tasks.openended``) compares the two answers in both
   orders (a win only when it wins in both) and scores the trained student's answer on
   the 1-10 rubric. Reported: the win-rate against no thinking with a bootstrap CI; the
   rubric score per item goes into ``evaluations`` (the study's ``score``).
2. For the correlation table, the trained student answers up to ``correlation_items``
   training queries whose thinking it learned; the judge scores each answer, and each
   item's PPL change z0 -> z* (the search's ``z-star`` trace) is set against that score:
   Spearman's rho with a bootstrap CI.

The answer judged is the part after ``</think>`` (``scoring.answer_part``). Every unit
(an answer, a judgement) is committed on its own, so a resumed stage neither samples nor
judges anything twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.paradigms.blocks import (
    ask_units,
    chunks,
    eval_items,
    load_for_inference,
    params_of,
    stage_params,
    stage_traces,
    trained_adapter,
)
from engine.paradigms.reer import params as P
from engine.paradigms.reer.scoring import answer_part
from engine.paradigms.reer.stages import query, reference, student_messages
from engine.stage import StageContext, Unit
from engine.store import traces
from engine.store.items import Item


def _answers(ctx: StageContext, adapter: Path | None, items: list[Item], role: str,
             batch_size: int) -> None:
    """The student's answer to each item as a trace of ``role`` (committed item by item)."""
    from engine.student import sample

    spec = ctx.recipe.evaluation
    units = list(ctx.pending(items, key=lambda it: f"{role}:{it.item_hash}"))
    if not units:
        return
    model, tokenizer = load_for_inference(ctx, adapter)
    for group in chunks(units, batch_size):
        prompts = [student_messages(ctx, u.value) for u in group]
        outs = sample(model, tokenizer, prompts, k=1, temperature=spec.temperature,
                      max_new_tokens=spec.max_new_tokens, seed=ctx.recipe.seed,
                      batch_size=batch_size)
        for unit, prompt, (out, *_) in zip(group, prompts, outs, strict=True):
            with ctx.commit(unit):
                ctx.trace(role=role, item_id=unit.value.id, model=ctx.recipe.student.model,
                          prompt=prompt[-1]["content"], output=out.text, tokens_out=out.tokens,
                          parsed={"answer": answer_part(out.text),
                                  "finish_reason": out.finish_reason})
                ctx.metric("cost/student_gen_tokens", float(out.tokens))


def _judge(ctx: StageContext, items: list[Item], *, pairwise: bool, kind: str) -> None:
    """Judge each item's answer (``kind`` "eval": rubric + pairwise vs the baseline, with an
    evaluations row; "train": rubric only), one committed unit per item."""
    from engine.tasks.openended import pair_outcome, pairwise_messages, parse_score, rubric_messages
    from engine.teacher import Request, Result

    p = params_of(ctx, P.EvaluateParams)
    role = "student" if kind == "eval" else "student-train"
    mine = {t.item_id: t for t in stage_traces(ctx, ctx.stage, role=role)}
    base = {t.item_id: t for t in stage_traces(ctx, ctx.stage, role="student-nothink")}
    todo = [it for it in items if it.id in mine and (not pairwise or it.id in base)]
    units = list(ctx.pending(todo, key=lambda it: f"judge-{kind}:{it.item_hash}"))

    def answer(t: traces.Trace) -> str:
        return str((t.parsed or {}).get("answer", ""))

    def requests_for(item: Item) -> list[Request]:
        x, a = query(item), answer(mine[item.id])
        msgs = [rubric_messages(x, a, reference(item))]
        if pairwise:
            b = answer(base[item.id])
            msgs += [pairwise_messages(x, a, b), pairwise_messages(x, b, a)]
        return [Request(messages=m, temperature=0.0, max_tokens=p.judge_max_tokens,
                        tag=item.id) for m in msgs]

    def store(unit: Unit[Item], results: list[Result]) -> None:
        item, texts = unit.value, [r.text if not r.error else "" for r in results]
        rubric = parse_score(texts[0])
        answer_trace = mine[item.id]
        model = ctx.recipe.teacher.model
        with ctx.commit(unit):
            ctx.trace(role=f"judge-{kind}", item_id=item.id, parent_id=answer_trace.id,
                      model=model, output=texts[0], score=rubric,
                      flag=None if rubric is not None else "no 'Score: N' in the reply",
                      tokens_in=results[0].tokens_in, tokens_out=results[0].tokens_out)
            details: dict[str, Any] = {"rubric": rubric}
            if pairwise:
                outcome = pair_outcome(texts[1], texts[2])
                ctx.trace(role="judge-pair", item_id=item.id, parent_id=answer_trace.id,
                          model=model, output=f"{texts[1]}\n\n--- swapped ---\n\n{texts[2]}",
                          score=outcome.score, verdict="win" if outcome.score == 1 else
                          "loss" if outcome.score == 0 else "tie",
                          parsed={"a_first": outcome.a_first, "b_first": outcome.b_first,
                                  "consistent": outcome.consistent,
                                  "baseline_trace": base[item.id].id})
                details["vs_nothink"] = outcome.score
            if kind == "eval":
                traces.add_evaluation(ctx.store, run_id=ctx.run_id, stage=ctx.stage,
                                      item_id=item.id, trace_id=answer_trace.id,
                                      passed=None, score=rubric, details=details)

    ask_units(ctx, units, requests_for, store)


def evaluate(ctx: StageContext) -> None:
    p = params_of(ctx, P.EvaluateParams)
    thinking = stage_params(ctx, "train", P.TrainParams).thinking
    base = trained_adapter(ctx, "baseline")
    adapter = trained_adapter(ctx, "train") if thinking else base
    items = eval_items(ctx)
    _answers(ctx, adapter, items, "student", p.batch_size)
    pairwise = p.pairwise and thinking and base is not None
    if p.pairwise and not pairwise:
        ctx.log("no pairwise judging: " + ("the student is the no-thinking baseline itself"
                if not thinking else "the baseline stage trained no student"))
    if pairwise:
        _answers(ctx, base, items, "student-nothink", p.batch_size)
    searched = {t.item_id for t in stage_traces(ctx, "search", role="z-star")}
    corr = [it for it in ctx.items("train") if it.id in searched][:p.correlation_items]
    _answers(ctx, adapter, corr, "student-train", p.batch_size)
    _judge(ctx, items, pairwise=pairwise, kind="eval")
    _judge(ctx, corr, pairwise=False, kind="train")
    report(ctx)


def report(ctx: StageContext) -> None:
    """Win-rate, rubric score and the correlation table, from the store."""
    from engine.metrics import mean_ci

    def interval(name: str, values: list[float], what: str) -> None:
        if not values:
            return
        est = mean_ci(values)
        for suffix, v in (("", est.mean), ("_ci_low", est.low), ("_ci_high", est.high),
                          ("_n", float(est.n))):
            ctx.metric(f"{name}{suffix}", v)
        ctx.log(f"{what}: {est.mean:.3f} (95% CI {est.low:.3f}-{est.high:.3f}, n={est.n})")

    pairs = [float(t.score) for t in stage_traces(ctx, ctx.stage, role="judge-pair")
             if t.score is not None]
    interval("winrate_vs_nothink", pairs, "win-rate against the no-thinking student "
             "(ties count half, both orders)")
    interval("judge_score", [float(t.score) for t in stage_traces(ctx, ctx.stage, "judge-eval")
                             if t.score is not None], "judge score of the student (1-10)")
    correlation_table(ctx)


def correlation_table(ctx: StageContext) -> None:
    """Per training item: score(z0), score(z*), the drop, the judge's score of the answer
    the trained student writes to it; Spearman of drop (and of score(z*)) vs judge score."""
    from engine.studies.stats import correlation

    finals = {t.item_id: t.parsed or {} for t in stage_traces(ctx, "search", role="z-star")}
    judged = {t.item_id: float(t.score) for t in stage_traces(ctx, ctx.stage, "judge-train")
              if t.score is not None}
    common = sorted(set(finals) & set(judged), key=lambda i: i or 0)
    if not common:
        return
    drop = [float(finals[i]["drop"]) for i in common]
    final = [float(finals[i]["score"]) for i in common]
    judge = [judged[i] for i in common]
    lines = ["item  score(z0)  score(z*)  drop   judge"]
    lines += [f"{i:>4}  {finals[i]['score_z0']:9.3f}  {finals[i]['score']:9.3f}  "
              f"{d:5.3f}  {j:5.1f}" for i, d, j in zip(common, drop, judge, strict=True)][:30]
    ctx.log("PPL change vs judge score, per training item (first 30):\n" + "\n".join(lines))
    for name, xs in (("corr_drop_judge", drop), ("corr_score_judge", final)):
        c = correlation(xs, judge, "spearman")
        for suffix, v in (("", c.rho), ("_ci_low", c.low), ("_ci_high", c.high),
                          ("_p", c.p), ("_n", float(c.n))):
            if v == v:  # an undefined correlation (NaN) is logged, not stored
                ctx.metric(f"{name}{suffix}", v)
        ctx.log(f"Spearman {name}: {c.rho:.3f} (95% CI {c.low:.3f}-{c.high:.3f}, n={c.n})"
                + (" (undefined: one side is constant)" if c.rho != c.rho else ""))


__all__ = ["evaluate"]
