"""Stages of `reer` around the search: baseline, draft, filter, train.

baseline: the no-thinking student (query -> answer), which evaluate compares against.
draft: the teacher writes z0 for (x, y); a draft too short, of one segment or cut off is
redrawn, then flagged. filter: drops thinking that never finished or loops, measures how
much of y each z copies and flags the leaky ones. train: SFT on x -> layout(z*, y).
The search itself is in ``search.py``, the evaluation in ``evaluate.py``.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from engine.errors import DistillabError
from engine.paradigms.blocks import (
    Messages,
    ask_all,
    chunks,
    params_of,
    sft_on_splits,
    stage_params,
    stage_traces,
)
from engine.paradigms.reer import formats
from engine.paradigms.reer import params as P
from engine.paradigms.reer.leakage import leakage, repeat_share
from engine.paradigms.reer.scoring import completion
from engine.prompts import render
from engine.stage import StageContext
from engine.store import StepIn
from engine.store.items import Item


def query(item: Item) -> str:
    """The task x: the item's ``query``, else its ``instruction`` and ``input`` joined."""
    data = item.data
    if data.get("query"):
        return str(data["query"])
    return "\n\n".join(str(data[k]) for k in ("instruction", "input") if data.get(k))


def reference(item: Item) -> str:
    """The known-good answer y."""
    return str(item.data.get("reference", ""))


def student_messages(ctx: StageContext, item: Item) -> Messages:
    """The student's prompt (training, scoring and evaluation use the same)."""
    template = stage_params(ctx, "train", P.TrainParams).template
    return [{"role": "user", "content": render(template, ctx.loaded.base_dir,
                                               query=query(item))}]


def searched_items(ctx: StageContext) -> list[Item]:
    """The items the draft stage works on (its splits), in order."""
    splits = stage_params(ctx, "draft", P.DraftParams).splits
    return [it for split in splits for it in ctx.items(split)]


# -- baseline ------------------------------------------------------------------------------


def baseline(ctx: StageContext) -> None:
    if not params_of(ctx, P.BaselineParams).enabled:
        ctx.log("baseline.enabled is false: no no-thinking student to compare with")
        return
    sft_on_splits(ctx, lambda split: [
        {"prompt": student_messages(ctx, it), "completion": reference(it)}
        for it in ctx.items(split) if reference(it).strip()],
        what="query -> answer rows (the no-thinking baseline)",
        empty=DistillabError("no training items with a reference answer",
                             "map the answer column with dataset.fields: {reference: ...}"))


# -- draft ---------------------------------------------------------------------------------


def _draft_problem(p: P.DraftParams, thinking: formats.Thinking, tokens: int) -> str | None:
    if thinking.reason:
        return thinking.reason
    n = len(formats.split_segments(thinking.text, p.min_segment_chars))
    if tokens < p.min_tokens:
        return f"the draft has {tokens} tokens, under draft.min_tokens = {p.min_tokens}"
    if n < p.min_segments:
        return f"the draft has {n} segment(s), under draft.min_segments = {p.min_segments}"
    return None


def draft(ctx: StageContext) -> None:
    from engine.teacher import Request, Result, open_teacher

    p = params_of(ctx, P.DraftParams)
    units = list(ctx.pending(searched_items(ctx), key=lambda it: it.item_hash))
    if not units:
        return
    max_tokens = p.max_tokens or ctx.recipe.teacher.max_tokens

    def prompt(item: Item) -> str:
        return render(p.template, ctx.loaded.base_dir, query=query(item), answer=reference(item))

    def request(item: Item, attempt: int) -> Request:
        return Request(messages=[{"role": "user", "content": prompt(item)}],
                       max_tokens=max_tokens, temperature=ctx.recipe.teacher.temperature,
                       seed=attempt or None, tag=item.id)

    flagged = 0
    with ExitStack() as stack:
        teacher = stack.enter_context(open_teacher(ctx.recipe.teacher, store=ctx.store,
                                                   run_id=ctx.run_id, stage=ctx.stage))
        for chunk in chunks(units, p.batch or ctx.recipe.teacher.concurrency):
            tries: dict[str, list[tuple[Result, formats.Thinking, str | None]]] = {
                u.key: [] for u in chunk}
            stop: Exception | None = None
            for attempt in range(1 + p.redraws):
                todo = [u for u in chunk if not tries[u.key] or tries[u.key][-1][2]]
                todo = [u for u in todo if len(tries[u.key]) == attempt]
                if not todo or stop is not None:
                    break
                results, stop = ask_all(teacher, [request(u.value, attempt) for u in todo])
                for unit, result in zip(todo, results, strict=True):
                    if result is None:
                        continue
                    text = result.text if not result.error else ""
                    thinking = formats.parse_think(text)
                    problem = (f"teacher error: {result.error}" if result.error else
                               _draft_problem(p, thinking, result.tokens_out or
                                              len(thinking.text.split())))
                    tries[unit.key].append((result, thinking, problem))
            for unit in chunk:
                got = tries[unit.key]
                done = got and (got[-1][2] is None or len(got) == 1 + p.redraws)
                if not done:
                    continue  # the budget stopped it before a decision: asked again on resume
                flagged += got[-1][2] is not None
                with ctx.commit(unit):
                    for k, (result, thinking, problem) in enumerate(got):
                        segments = formats.split_segments(thinking.text, p.min_segment_chars)
                        ctx.trace(role="draft" if k == len(got) - 1 else "draft-redrawn",
                                  item_id=unit.value.id, model=ctx.recipe.teacher.model,
                                  prompt=prompt(unit.value) if k == 0 else None,
                                  output=result.text, sample_index=k, flag=problem,
                                  tokens_in=result.tokens_in, tokens_out=result.tokens_out,
                                  latency_s=result.latency_s, cost_usd=result.cost_usd,
                                  parsed={"thinking": thinking.text,
                                          "finished": thinking.finished,
                                          "segments": segments, "attempt": k},
                                  steps=[StepIn(s, kind="segment") for s in segments])
            if stop is not None:
                raise stop
    if flagged:
        ctx.log(f"{flagged} of {len(units)} drafts stayed unusable after "
                f"{p.redraws} redraw(s); they are flagged and kept out", "warning")


# -- filter --------------------------------------------------------------------------------


def filter_stage(ctx: StageContext) -> None:
    """Keep or drop each searched thinking; measure and flag its leakage of the answer."""
    p = params_of(ctx, P.FilterParams)
    finals = {t.item_id: t for t in stage_traces(ctx, "search", role="z-star")}
    drafts = {t.item_id: t for t in stage_traces(ctx, "draft", role="draft")}
    todo = [it for it in searched_items(ctx) if it.id in finals]
    for unit in ctx.pending(todo, key=lambda it: it.item_hash):
        item, final = unit.value, finals[unit.value.id]
        z, y = final.output or "", reference(item)
        leak = leakage(z, y)
        repeats = repeat_share(z, p.repeat_n)
        finished = bool((drafts[item.id].parsed or {}).get("finished", True))
        dropped = ("the draft never finished (no </think>)" if p.require_finished
                   and not finished else f"repeated {p.repeat_n}-grams: {repeats:.2f} > "
                   f"{p.max_repeat_share}" if repeats > p.max_repeat_share else None)
        leaks = [f"8-gram overlap {leak.ngram[8]:.2f} > {p.flag_ngram_8}"
                 if leak.ngram[8] > p.flag_ngram_8 else "",
                 f"ROUGE-L {leak.rouge_l:.2f} > {p.flag_rouge_l}"
                 if leak.rouge_l > p.flag_rouge_l else "",
                 f"copies {leak.copied_words} words" if leak.copied_words >=
                 p.flag_copied_words else ""]
        leaky = "; ".join(x for x in leaks if x)
        if leaky and p.drop_flagged and dropped is None:
            dropped = f"leaky: {leaky}"
        with ctx.commit(unit):
            ctx.trace(role="filter", item_id=item.id, parent_id=final.id, output=z,
                      verdict="dropped" if dropped else "kept",
                      flag=dropped or (f"leaky: {leaky}" if leaky else None),
                      score=leak.as_dict()[p.rank_by],
                      parsed={**leak.as_dict(), "repeat_share": repeats, "finished": finished,
                              "leaky": bool(leaky)})
    report_leakage(ctx)


def report_leakage(ctx: StageContext) -> None:
    """Leakage distributions (from the store, so a resumed stage reports the same)."""
    import numpy as np

    rows = [t.parsed or {} for t in stage_traces(ctx, ctx.stage, role="filter")]
    if not rows:
        ctx.log("no searched thinking to filter", "warning")
        return
    for name in ("ngram_3", "ngram_8", "rouge_l", "copied_words"):
        values = np.array([float(r[name]) for r in rows])
        for q, label in ((0.25, "q1"), (0.5, "median"), (0.75, "q3")):
            ctx.metric(f"leak/{name}_{label}", float(np.quantile(values, q)))
        ctx.metric(f"leak/{name}_mean", float(values.mean()))
    kept = stage_traces(ctx, ctx.stage, role="filter")
    n_kept = sum(t.verdict == "kept" for t in kept)
    n_leaky = sum(bool((t.parsed or {}).get("leaky")) for t in kept)
    ctx.metric("filter/kept", float(n_kept))
    ctx.metric("filter/leaky", float(n_leaky))
    med = {n: float(np.median([float(r[n]) for r in rows])) for n in ("ngram_8", "rouge_l")}
    ctx.log(f"filter: {n_kept} of {len(rows)} kept, {n_leaky} flagged leaky; median 8-gram "
            f"overlap {med['ngram_8']:.3f}, median ROUGE-L {med['rouge_l']:.3f}")


# -- train ---------------------------------------------------------------------------------


def kept_thinking(ctx: StageContext) -> dict[int, str]:
    """Item id -> z* of the items the filter kept, less the leakiest share when asked."""
    p = stage_params(ctx, "filter", P.FilterParams)
    kept = [t for t in stage_traces(ctx, "filter", role="filter") if t.verdict == "kept"]
    if p.drop_leakiest > 0 and kept:
        ranked = sorted(kept, key=lambda t: (t.score or 0.0, t.item_id or 0))
        kept = ranked[:len(ranked) - round(p.drop_leakiest * len(ranked))]
    return {int(t.item_id): t.output or "" for t in kept if t.item_id is not None}


def _rows(ctx: StageContext, split: str, thinking: dict[int, str]) -> list[dict[str, Any]]:
    layout = stage_params(ctx, "search", P.SearchParams).layout
    rows = [{"prompt": student_messages(ctx, it),
             "completion": completion(layout, thinking[it.id], reference(it))}
            for it in ctx.items(split) if it.id in thinking]
    return rows


def train(ctx: StageContext) -> None:
    p = params_of(ctx, P.TrainParams)
    if not p.thinking:
        ctx.log("train.thinking is false: the student is the no-thinking baseline")
        return
    thinking = kept_thinking(ctx)
    trained = [t.parsed or {} for t in stage_traces(ctx, "filter", role="filter")
               if t.item_id in thinking]
    if trained:  # what the student learns from: leakage after drop_leakiest
        import numpy as np

        for name in ("rouge_l", "ngram_8"):
            ctx.metric(f"leak/trained_{name}_median",
                       float(np.median([float(r[name]) for r in trained])))
    sft_on_splits(ctx, lambda split: _rows(ctx, split, thinking),
                  what="query -> thinking + answer rows", limit=p.max_rows,
                  empty=DistillabError("no usable training rows: every thinking was flagged "
                                       "or dropped", "look at the draft and filter stages' "
                                       "traces (flag column)"))


__all__ = ["baseline", "draft", "filter_stage", "kept_thinking", "query", "reference",
           "searched_items", "student_messages", "train"]

