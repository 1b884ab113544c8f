"""The `pairs` stage: cross-model preference pairs on the student's first wrong step.

For each wrong solution with a usable final correction (``build_pair``, a pure function
tested on hand-made traces):

- prompt = the problem (the student's prompt) + the student's steps 1..k-1, as written;
- chosen = the teacher's cause and correction of step k (``meta`` off: the correction only);
- rejected = the student's own cause and correction of step k from its self-correction
  (``rejected: self_correction``, the paper's pair), or its original wrong step k
  (``rejected: original_step``).

Stored in ``pairs`` with the teacher's correction as the chosen trace and the
self-correction (or the student's solution) as the rejected one; ``meta`` holds what the
dpo stage needs to rebuild the prompt with the student's chat template (the messages and
the prefix) and the step k. A solution without a usable pair is counted by its reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from engine.paradigms.blocks import params_of, stage_traces
from engine.paradigms.supercorrect import formats as F
from engine.paradigms.supercorrect import params as P
from engine.stage import StageContext
from engine.store import traces
from engine.store.traces import Trace


@dataclass(frozen=True)
class Pair:
    k: int
    prefix: str  # the student's steps 1..k-1, normalised
    chosen: str
    rejected: str


def build_pair(solution: str, teacher: F.Correction, self_cause: str | None,
               self_correction: str | None, *, rejected: str = "self_correction",
               meta: bool = True) -> tuple[Pair | None, str]:
    """The pair for one wrong solution (its text), or None and the reason there is none."""
    steps = F.parse_template(solution).steps
    k = teacher.step
    if not teacher.ok or k is None or not teacher.correction:
        return None, f"the teacher's correction is unusable: {teacher.reason or 'no step'}"
    if not 1 <= k <= len(steps) + 1:
        return None, f"the teacher names Step {k}; the solution has {len(steps)} steps"
    chosen = F.correction_block(k, teacher.cause if meta else None, teacher.correction)
    if rejected == "original_step":
        if k > len(steps):
            return None, f"the solution has no Step {k} of its own (it stops short)"
        other = F.step_block(k, steps[k - 1].text)
    else:
        if not self_correction:
            return None, "the student's self-correction has no <Correction>"
        other = F.correction_block(k, self_cause if meta else None, self_correction)
    if other == chosen:
        return None, "the student's side is the teacher's, word for word"
    return Pair(k, F.steps_text(steps[:k - 1]), chosen, other), ""


def _finals(ctx: StageContext) -> dict[int, Trace]:
    """student trace id -> its final usable correction."""
    return {int(t.parsed["student_trace"]): t for t in stage_traces(ctx, "correct")
            if t.role in ("corrector", "inspector") and not t.flag
            and (t.parsed or {}).get("final")}


def pairs(ctx: StageContext) -> None:
    p = params_of(ctx, P.PairsParams)
    finals = _finals(ctx)
    selves = {int(t.parsed["student_trace"]): t
              for t in stage_traces(ctx, "correct", "self-corrector")}
    students = {t.id: t for t in stage_traces(ctx, "solve", "student")}
    skipped: Counter[str] = Counter()
    made = 0
    for unit in ctx.pending(sorted(finals), key=lambda sid: f"trace-{sid}"):
        student, final = students[unit.value], finals[unit.value]
        own = selves.get(unit.value)
        own_parsed = (own.parsed or {}) if own else {}
        pair, reason = build_pair(student.output or "", F.parse_correction(final.output or ""),
                                  own_parsed.get("cause"), own_parsed.get("correction"),
                                  rejected=p.rejected, meta=p.meta)
        with ctx.commit(unit):
            if pair is None:
                skipped[reason] += 1
                continue
            made += 1
            rejected_trace = own.id if p.rejected == "self_correction" and own else student.id
            traces.add_pair(
                ctx.store, run_id=ctx.run_id, stage=ctx.stage, item_id=student.item_id,
                prompt=f"{student.prompt or ''}\n\n{pair.prefix}".rstrip(),
                chosen=pair.chosen, rejected=pair.rejected, chosen_trace_id=final.id,
                rejected_trace_id=rejected_trace,
                meta={"k": pair.k, "prefix": pair.prefix, "student_trace": student.id,
                      "messages": [{"role": "user", "content": student.prompt or ""}],
                      "rejected": p.rejected, "meta": p.meta})
    for reason, n in skipped.most_common():
        ctx.log(f"{n} wrong solutions gave no pair: {reason}", "warning")
    total = ctx.store.one("SELECT COUNT(*) FROM pairs WHERE run_id = ? AND stage = ?",
                          (ctx.run_id, ctx.stage))
    ctx.metric("pairs", float(total[0]) if total else 0.0)
    ctx.log(f"{made} preference pairs built now ({total[0] if total else 0} in all)")


__all__ = ["Pair", "build_pair", "pairs"]
