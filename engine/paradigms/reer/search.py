"""REER's search: refine z segment by segment, keeping an edit only when it lowers the score.

For each drafted item (PAPERS.md section 5): score z0; then for segment i = 0, 1, ... (at
most ``max_steps``, while the score is not below ``stop_below``) the teacher proposes
``expansions`` rewrites of segment i in context, every candidate z is scored by the local
scorer, and the best one is accepted only if it beats the best score so far, so the score
never gets worse. Every candidate is a trace (``parent_id``: the best z it was edited
from) with its score; the edited segment's step carries the score change in ``metrics``.
When an item is done a ``z-star`` trace holds z*, its score, the drop from z0 (the trace's
``score``) and the item's search cost (teacher calls, scorer tokens, seconds).

Units are (item, step): step -1 scores z0, steps 0..max_steps-1 edit one segment each,
step max_steps writes z*. Items are searched ``batch_items`` at a time, step by step,
so their candidates are scored in one batch. A resumed stage rebuilds each item's best z
from its stored traces: committed candidates are never scored again, and teacher answers
come from the cache.
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from engine.paradigms.blocks import ask_all, chunks, params_of, stage_params, stage_traces
from engine.paradigms.reer import formats
from engine.paradigms.reer import params as P
from engine.paradigms.reer.scoring import (
    Scored,
    resolve_dtype,
    score_thinkings,
    to_scoring_dtype,
)
from engine.paradigms.reer.stages import query, reference, searched_items, student_messages
from engine.prompts import render
from engine.stage import StageContext, Unit
from engine.store import StepIn
from engine.store.items import Item

Key = tuple[Item, int]


@dataclass
class State:
    """An item's search so far: its best z (as segments), scores and cost."""

    segments: list[str]
    best: float = float("nan")
    best_id: int | None = None
    z0: float = float("nan")
    calls: int = 0
    score_tokens: int = 0
    seconds: float = 0.0
    accepted: int = 0
    deltas: list[float] = field(default_factory=list)  # per segment: score change taken

    def done(self, p: P.SearchParams, step: int) -> bool:
        return (not p.enabled or step >= len(self.segments) or self.best < p.stop_below)


def _states(ctx: StageContext, drafts: dict[int, Any]) -> dict[int, State]:
    """Each item's state rebuilt from the drafts and this stage's stored traces."""
    states = {item_id: State(list((t.parsed or {}).get("segments") or []))
              for item_id, t in drafts.items()}
    for s in states.values():
        s.deltas = [0.0] * len(s.segments)
    for t in stage_traces(ctx, ctx.stage):
        state, info = states.get(int(t.item_id or -1)), t.parsed or {}
        if state is None or t.role not in ("z0", "candidate"):
            continue
        state.score_tokens += int(info.get("score_tokens", 0))
        state.seconds += float(info.get("seconds", 0.0)) + float(t.latency_s or 0.0)
        state.calls += int(info.get("teacher_calls", 0))
        if t.role == "z0":
            state.best = state.z0 = float(t.score if t.score is not None else "nan")
            state.best_id = t.id
        elif info.get("accepted"):
            i = int(info["segment"])
            state.segments[i] = str(info["new_segment"])
            state.deltas[i] = float(t.score or 0.0) - state.best
            state.best, state.best_id = float(t.score or 0.0), t.id
            state.accepted += 1
    return states


def search(ctx: StageContext) -> None:
    p = params_of(ctx, P.SearchParams)
    dp = stage_params(ctx, "draft", P.DraftParams)
    drafts = {int(t.item_id): t for t in stage_traces(ctx, "draft", role="draft")
              if not t.flag and t.item_id is not None}
    items = [it for it in searched_items(ctx) if it.id in drafts]
    steps = p.max_steps if p.enabled else 0
    values: list[Key] = [(it, s) for it in items for s in range(-1, steps + 1)]
    pending = list(ctx.pending(values, key=lambda v: f"{v[0].item_hash}:{v[1]}"))
    if not pending:
        _report(ctx)
        return
    states = _states(ctx, drafts)
    by_item: dict[int, list[Unit[Key]]] = defaultdict(list)
    for unit in pending:
        by_item[unit.value[0].id].append(unit)
    with ExitStack() as stack:
        run = _Runner(ctx, p, dp, states, stack)
        for group in chunks(list(by_item), p.batch_items):
            for step in range(-1, steps + 1):
                ctx.check_cancel()
                now = [u for item_id in group for u in by_item[item_id] if u.value[1] == step]
                if now:
                    run.step(step, now, steps)
    _report(ctx)


class _Runner:
    """One step of the search for a group of items; opens the scorer and teacher lazily."""

    def __init__(self, ctx: StageContext, p: P.SearchParams, dp: P.DraftParams,
                 states: dict[int, State], stack: ExitStack) -> None:
        self.ctx, self.p, self.dp, self.states, self.stack = ctx, p, dp, states, stack
        self._model: tuple[Any, Any] | None = None
        self._teacher: Any = None

    def model(self) -> tuple[Any, Any]:
        if self._model is None:
            from engine.student import load_student

            spec = self.ctx.recipe.student
            if self.p.scorer:
                spec = spec.model_copy(update={"model": self.p.scorer})
            self._model = load_student(spec, for_training=False)
            dtype = resolve_dtype(self.p.score_dtype, self._model[0])
            to_scoring_dtype(self._model[0], dtype)
            self.ctx.log(f"scorer: {spec.model} in {next(self._model[0].parameters()).dtype} "
                         f"(search.score_dtype: {self.p.score_dtype})")
        return self._model

    def teacher(self) -> Any:
        if self._teacher is None:
            from engine.teacher import open_teacher

            self._teacher = self.stack.enter_context(open_teacher(
                self.ctx.recipe.teacher, store=self.ctx.store, run_id=self.ctx.run_id,
                stage=self.ctx.stage))
        return self._teacher

    def score(self, items: list[Item], thinkings: list[str]) -> tuple[list[Scored], float]:
        model, tokenizer = self.model()
        t0 = time.perf_counter()
        out = score_thinkings(model, tokenizer, [student_messages(self.ctx, it) for it in items],
                              thinkings, [reference(it) for it in items], layout=self.p.layout,
                              clip=self.p.clip, batch_size=self.p.score_batch,
                              min_segment_chars=self.dp.min_segment_chars)
        return out, time.perf_counter() - t0

    def step(self, step: int, units: list[Unit[Key]], steps: int) -> None:
        if step == -1:
            self._score_z0(units)
        elif step == steps:
            for unit in units:
                self._finish(unit)
        else:
            self._edit(step, units)

    def _score_z0(self, units: list[Unit[Key]]) -> None:
        items = [u.value[0] for u in units]
        zs = [formats.join_segments(self.states[it.id].segments) for it in items]
        scored, seconds = self.score(items, zs)
        total = sum(s.input_tokens for s in scored) or 1
        for unit, z, s in zip(units, zs, scored, strict=True):
            item, state = unit.value[0], self.states[unit.value[0].id]
            share = seconds * s.input_tokens / total
            with self.ctx.commit(unit):
                tid = self.ctx.trace(role="z0", item_id=item.id, output=z, score=s.score,
                                     model=self.p.scorer or self.ctx.recipe.student.model,
                                     parsed={"score_tokens": s.input_tokens, "seconds": share,
                                             "scored_tokens": s.tokens},
                                     steps=[StepIn(x, kind="segment") for x in state.segments])
                self.ctx.metric("cost/student_score_tokens", float(s.input_tokens))
            state.best = state.z0 = s.score
            state.best_id = tid
            state.score_tokens += s.input_tokens
            state.seconds += share

    def _edit(self, step: int, units: list[Unit[Key]]) -> None:
        from engine.teacher import Request

        active = [u for u in units if not self.states[u.value[0].id].done(self.p, step)]
        for unit in units:
            if unit not in active:
                with self.ctx.commit(unit):
                    pass  # stopped (threshold reached or no segment left): nothing to do
        if not active:
            return
        p = self.p
        max_tokens = p.max_tokens or self.ctx.recipe.teacher.max_tokens
        requests = []
        for unit in active:
            item, state = unit.value[0], self.states[unit.value[0].id]
            prompt = render(p.template, self.ctx.loaded.base_dir, query=query(item),
                            answer=reference(item),
                            thinking=formats.mark_segment(state.segments, step))
            requests.append(Request(messages=[{"role": "user", "content": prompt}],
                                    n=p.expansions, temperature=p.temperature, top_p=p.top_p,
                                    max_tokens=max_tokens, tag=item.id,
                                    extra={"top_k": p.top_k} if p.top_k else None))
        results, stop = ask_all(self.teacher(), requests)
        answered = [(u, r) for u, r in zip(active, results, strict=True) if r is not None]
        jobs: list[tuple[Unit[Key], int, str]] = []  # (unit, expansion, new segment)
        edits: dict[str, list[tuple[str, str | None]]] = {}
        for unit, result in answered:
            texts = [c.text for c in result.completions] if not result.error else []
            edits[unit.key] = [(t, formats.parse_refine(t)) for t in texts]
            jobs += [(unit, j, new) for j, (_, new) in enumerate(edits[unit.key]) if new]
        cands = []
        for unit, _, new in jobs:
            segs = list(self.states[unit.value[0].id].segments)
            segs[step] = new
            cands.append(formats.join_segments(segs))
        scored, seconds = self.score([u.value[0] for u, _, _ in jobs], cands) if jobs else ([], 0.0)
        total = sum(s.input_tokens for s in scored) or 1
        for unit, result in answered:
            mine = [(j, new, z, s) for (u, j, new), z, s in zip(jobs, cands, scored, strict=True)
                    if u is unit]
            self._commit_edit(unit, step, result, edits[unit.key], mine, seconds, total)
        if stop is not None:
            raise stop

    def _commit_edit(self, unit: Unit[Key], step: int, result: Any,
                     edits: list[tuple[str, str | None]],
                     mine: list[tuple[int, str, str, Scored]], seconds: float,
                     total: int) -> None:
        item, state = unit.value[0], self.states[unit.value[0].id]
        best = min(mine, key=lambda m: m[3].score, default=None)
        take = best if best is not None and best[3].score < state.best else None
        parent, before = state.best_id, state.best
        by_j = {j: (new, z, s) for j, new, z, s in mine}
        ids: dict[int, int] = {}
        with self.ctx.commit(unit):
            if result.error:
                self.ctx.trace(role="candidate", item_id=item.id, parent_id=parent, output="",
                               flag=f"teacher error: {result.error}", parsed={
                                   "segment": step, "teacher_calls": 1},
                               latency_s=result.latency_s)
            for j, (raw, _new) in enumerate(edits):
                info: dict[str, Any] = {"segment": step, "edit": raw,
                                        "teacher_calls": 1 if j == 0 else 0}
                cost = {"tokens_in": result.tokens_in, "tokens_out": result.tokens_out,
                        "latency_s": result.latency_s, "cost_usd": result.cost_usd} \
                    if j == 0 else {}
                if j not in by_j:
                    ids[j] = self.ctx.trace(role="candidate", item_id=item.id, parent_id=parent,
                                            output=raw, sample_index=j, flag="no <refine>"
                                            " in the edit: not scored", parsed=info, **cost)
                    continue
                new_seg, z, s = by_j[j]
                accepted = take is not None and take[0] == j
                segs = list(state.segments)
                segs[step] = new_seg
                delta = s.score - before
                info.update({"new_segment": new_seg, "accepted": accepted, "delta": delta,
                             "score_before": before, "score_tokens": s.input_tokens,
                             "seconds": seconds * s.input_tokens / total,
                             "scored_tokens": s.tokens})
                steps = [StepIn(x, kind="segment",
                                verdict=("accepted" if accepted else "rejected")
                                if k == step else "unknown",
                                verdict_by="scorer" if k == step else None,
                                metrics={"delta": delta, "score": s.score,
                                         "score_before": before} if k == step else None)
                         for k, x in enumerate(segs)]
                ids[j] = self.ctx.trace(role="candidate", item_id=item.id, parent_id=parent,
                                        output=z, score=s.score, sample_index=j, parsed=info,
                                        verdict="accepted" if accepted else "rejected",
                                        model=self.p.scorer or self.ctx.recipe.student.model,
                                        steps=steps, **cost)
                self.ctx.metric("cost/student_score_tokens", float(s.input_tokens))
        state.calls += 1
        state.seconds += float(result.latency_s) + sum(
            seconds * s.input_tokens / total for _, _, _, s in mine)
        state.score_tokens += sum(s.input_tokens for _, _, _, s in mine)
        if take is not None:
            state.segments[step] = take[1]
            state.deltas[step] = take[3].score - before
            state.best, state.best_id = take[3].score, ids[take[0]]
            state.accepted += 1

    def _finish(self, unit: Unit[Key]) -> None:
        item, state = unit.value[0], self.states[unit.value[0].id]
        z = formats.join_segments(state.segments)
        with self.ctx.commit(unit):
            self.ctx.trace(
                role="z-star", item_id=item.id, parent_id=state.best_id, output=z,
                score=state.z0 - state.best, latency_s=state.seconds,
                parsed={"score": state.best, "score_z0": state.z0, "drop": state.z0 - state.best,
                        "accepted": state.accepted, "teacher_calls": state.calls,
                        "score_tokens": state.score_tokens, "seconds": state.seconds},
                steps=[StepIn(x, kind="segment", metrics={"delta": d})
                       for x, d in zip(state.segments, state.deltas, strict=True)])


def _report(ctx: StageContext) -> None:
    """Search figures from the store (a resumed stage reports the same): mean score of z0
    and z*, the drop, and the search cost per item."""
    import numpy as np

    finals = [t.parsed or {} for t in stage_traces(ctx, ctx.stage, role="z-star")]
    if not finals:
        ctx.log("no drafted item to search (every draft was flagged?)", "warning")
        return
    for name in ("score_z0", "score", "drop", "accepted", "teacher_calls", "score_tokens",
                 "seconds"):
        ctx.metric(f"search/{name}_mean", float(np.mean([float(f[name]) for f in finals])))
    improved = sum(float(f["drop"]) > 0 for f in finals)
    ctx.metric("search/improved", float(improved))
    mean = {k: float(np.mean([float(f[k]) for f in finals]))
            for k in ("score_z0", "score", "teacher_calls", "score_tokens", "seconds")}
    ctx.log(f"search: {len(finals)} items, score {mean['score_z0']:.3f} -> {mean['score']:.3f} "
            f"(z0 -> z*), {improved} improved; per item {mean['teacher_calls']:.1f} teacher "
            f"calls, {mean['score_tokens']:.0f} scorer tokens, {mean['seconds']:.1f} s")


__all__ = ["search"]
