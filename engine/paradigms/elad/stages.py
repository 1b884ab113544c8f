"""Stages of `elad`: baseline, then ``rounds`` (R x explore -> score -> select -> revise ->
train -> evaluate).

Every piece of a round's work is a unit whose key names the round and the step
(``r2:score:<item hash>``, ``r2:select``, ``r2:train``, ``r2:done``), so a resumed run
skips what any earlier attempt finished; the teacher's answers are cached, so calls made
for a chunk that was not committed are replayed free; training resumes from the round's
own checkpoints (``<run files>/train_r<R>``). Traces carry their round in ``parsed.round``,
evaluations in ``details.round`` (a study compares rounds with ``by: round``), metrics
in their step.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from engine.errors import DistillabError
from engine.paradigms.blocks import (
    Messages,
    chunks,
    eval_items,
    evaluate_student,
    load_for_inference,
    params_of,
    sample_verified,
    stage_params,
    stage_traces,
    store_checked,
    train_stage,
)
from engine.paradigms.elad import params as P
from engine.paradigms.elad import scoring as S
from engine.paradigms.elad.report import lift, round_metrics
from engine.paradigms.elad.revise import Chain, Outcome, Prompts, check_chains, tokens
from engine.prompts import render
from engine.stage import StageContext, Unit
from engine.steps import chain_steps
from engine.store import StepIn, runs, traces
from engine.store.items import Item

STAGE = "rounds"


def question(item: Item) -> str:
    return str(item.data.get("question", ""))


def student_messages(ctx: StageContext, item: Item) -> Messages:
    """The student's prompt for an item (exploring, scoring, training and evaluation)."""
    template = stage_params(ctx, STAGE, P.RoundsParams).train.template
    fields = {**item.data, "question": question(item)}
    return [{"role": "user", "content": render(template, ctx.loaded.base_dir, **fields)}]


def steps_of(text: str) -> list[StepIn]:
    """A chain's steps (renumbered 1..n in order) and its answer line, as stored steps."""
    chain = chain_steps(text)
    out = [StepIn(f"Step {k}: {t}") for k, t in enumerate(chain.texts, start=1)]
    return out + ([StepIn(chain.answer_line, kind="answer")] if chain.answer_line else [])


def round_of(trace: traces.Trace) -> int:
    return int((trace.parsed or {}).get("round") or 0)


def round_traces(ctx: StageContext, role: str, r: int) -> list[traces.Trace]:
    return [t for t in stage_traces(ctx, STAGE, role) if round_of(t) == r]


def round_adapter(ctx: StageContext, r: int) -> Path | None:
    """The adapter trained in round r, else the newest of an earlier round (None: base)."""
    found: dict[int, Path] = {}
    for a in runs.artifacts(ctx.store, ctx.run_id):
        meta = a.get("meta") or {}
        if a["kind"] == "adapter" and meta.get("stage") == STAGE:
            found[int(meta.get("round") or 0)] = Path(a["path"])
    earlier = [k for k in found if k <= r]
    return found[max(earlier)] if earlier else None


class Student:
    """The student with one adapter at a time, loaded when first needed."""

    def __init__(self, ctx: StageContext) -> None:
        self.ctx = ctx
        self.adapter: Path | None = None
        self.loaded: tuple[Any, Any] | None = None

    def get(self, adapter: Path | None) -> tuple[Any, Any]:
        if self.loaded is None or adapter != self.adapter:
            self.loaded = None
            self.loaded, self.adapter = load_for_inference(self.ctx, adapter), adapter
        return self.loaded


# -- baseline --------------------------------------------------------------------------------


def baseline(ctx: StageContext) -> None:
    if not params_of(ctx, P.BaselineParams).enabled:
        ctx.log("baseline.enabled is false: no round-0 evaluation")
        return
    p = stage_params(ctx, STAGE, P.RoundsParams)
    evaluate_student(ctx, adapter=None, prompt_for=lambda it: student_messages(ctx, it),
                     task=p.task, role="student-base", metric="accuracy_base",
                     what="untrained student (round 0)", batch_size=p.batch_size,
                     steps_for=steps_of)


# -- the round loop --------------------------------------------------------------------------


def rounds(ctx: StageContext) -> None:
    p = params_of(ctx, P.RoundsParams)
    pool = ctx.items("train")[:p.pool] if p.pool else ctx.items("train")
    if not pool:
        raise DistillabError("the pool is empty: the train split has no items",
                             "give dataset.split a train share, or a larger data set")
    student = Student(ctx)
    finished = runs.finished_units(ctx.store, ctx.run_id, STAGE)
    for r in range(1, p.rounds + 1):
        if f"r{r}:done" in finished:
            continue
        taken = {t.item_id for t in stage_traces(ctx, STAGE, "revised") if round_of(t) < r}
        candidates = [it for it in pool if it.id not in taken]
        if not candidates:
            ctx.log(f"round {r}: every pool item was revised already; the loop ends", "warning")
            break
        one_round(ctx, p, r, candidates, student)
    lift(ctx)


def one_round(ctx: StageContext, p: P.RoundsParams, r: int, candidates: list[Item],
              student: Student) -> None:
    method = p.select.method
    before = round_adapter(ctx, r - 1)
    ctx.log(f"round {r}/{p.rounds}: {len(candidates)} candidates, budget {p.budget}, "
            f"selection {method}")
    if method != "random":
        explore(ctx, p, r, candidates, p.explore.k, student, before)
        score(ctx, p, r, candidates, student, before,
              intra=method == "elad" and p.score.weight < 1)
    chosen = select(ctx, p, r, candidates)
    if method == "random":  # the chosen items' own chains, to be checked and revised
        explore(ctx, p, r, chosen, 1, student, before)
    revise(ctx, p, r, chosen)
    student.loaded = None  # training loads its own copy; do not hold two
    train(ctx, p, r)
    evaluate(ctx, p, r, student)
    with ctx.commit(Unit(f"r{r}:done", r)):
        round_metrics(ctx, r)


# -- explore ---------------------------------------------------------------------------------


def explore(ctx: StageContext, p: P.RoundsParams, r: int, items: list[Item], k: int,
            student: Student, adapter: Path | None) -> None:
    from engine.student.chat import prompt_ids

    pending = list(ctx.pending(items, key=lambda it: f"r{r}:explore:{it.item_hash}"))
    if not pending:
        return
    model, tok = student.get(adapter)
    for group in chunks(pending, max(1, p.batch_size // k)):
        prompts = [student_messages(ctx, u.value) for u in group]
        checked = sample_verified(ctx, model, tok, [u.value for u in group], prompts,
                                  task=p.task, k=k, temperature=p.explore.temperature,
                                  max_new_tokens=p.explore.max_new_tokens,
                                  batch_size=p.batch_size, seed=ctx.recipe.seed + r)
        for unit, prompt, answers in zip(group, prompts, checked, strict=True):
            read = len(prompt_ids(tok, prompt))
            with ctx.commit(unit):
                for j, answer in enumerate(answers):
                    store_checked(ctx, unit.value, answer, role="explore",
                                  prompt=prompt[-1]["content"], sample_index=j,
                                  steps=steps_of(answer.text), evaluate=False,
                                  parsed={"round": r, "read_tokens": read})


def explored(ctx: StageContext, r: int) -> dict[int | None, list[traces.Trace]]:
    """Round r's chains by item, in sample order."""
    out: dict[int | None, list[traces.Trace]] = defaultdict(list)
    for t in round_traces(ctx, "explore", r):
        out[t.item_id].append(t)
    return {k: sorted(v, key=lambda t: t.sample_index) for k, v in out.items()}


def majority_chain(chains: list[traces.Trace]) -> tuple[traces.Trace, float]:
    index, share = S.majority([(t.parsed or {}).get("predicted") for t in chains])
    return chains[index], share


# -- score -----------------------------------------------------------------------------------


def score(ctx: StageContext, p: P.RoundsParams, r: int, items: list[Item], student: Student,
          adapter: Path | None, *, intra: bool) -> None:
    from engine.paradigms.elad.passes import continue_cuts
    from engine.student.chat import render_prompt
    from engine.tasks import get_task

    checker = get_task(p.task)
    chains = explored(ctx, r)
    pending = list(ctx.pending(items, key=lambda it: f"r{r}:score:{it.item_hash}"))
    for group in chunks(pending, p.batch_size):
        picked = [majority_chain(chains[u.value.id]) for u in group]
        steps = [chain_steps(t.output or "").texts[:p.score.max_steps] for t, _ in picked]
        cuts = None
        if intra:
            model, tok = student.get(adapter)
            heads = [render_prompt(tok, student_messages(ctx, u.value)) for u in group]
            data = [u.value.data for u in group]
            cuts = continue_cuts(
                model, tok, heads, steps,
                lambda c, text: checker.verify(text, data[c]).predicted,  # noqa: B023
                max_new_tokens=p.score.max_new_tokens, batch_size=p.batch_size,
                batched=p.score.batched, seed=ctx.recipe.seed)
            ctx.metric("cost/student_score_tokens",
                       float(sum(c.read_tokens + c.gen_tokens for c in cuts)), r)
        for c, unit in enumerate(group):
            chain, share = picked[c]
            answers = [(t.parsed or {}).get("predicted") for t in chains[unit.value.id]]
            cut = cuts[c] if cuts is not None else None
            with ctx.commit(unit):
                store_score(ctx, p, r, unit.value, chain, steps[c], answers, share, cut)


def store_score(ctx: StageContext, p: P.RoundsParams, r: int, item: Item,
                chain: traces.Trace, steps: list[str], answers: list[Any], share: float,
                cut: Any) -> None:
    h_cons = S.answer_entropy(answers)
    intra = S.intra_score(cut.without, cut.with_, p.score.intra_direction) if cut else None
    h_reason = intra.h_reason if intra else None
    value = S.combined(h_cons, h_reason, p.score.weight)
    stored = [StepIn(f"Step {i}: {t}", metrics=None if intra is None else {
        "answer_without": intra.without[i - 1], "answer_with": intra.with_[i - 1],
        "agreed": intra.agreed[i - 1]}) for i, t in enumerate(steps, start=1)]
    ctx.trace(role="score", item_id=item.id, model=ctx.recipe.student.model,
              output="\n".join(s.text for s in stored), parent_id=chain.id, score=value,
              tokens_in=cut.read_tokens if cut else None,
              tokens_out=cut.gen_tokens if cut else None,
              verdict=chain.verdict, steps=stored,
              flag="no steps: scored by the answer entropy alone" if cut and not steps else None,
              parsed={"round": r, "h_cons": h_cons, "h_reason": h_reason,
                      "agree_share": None if intra is None or not intra.agreed
                      else sum(intra.agreed) / len(intra.agreed),
                      "least_confidence": 1.0 - share, "combined": value,
                      "majority_share": share, "n_steps": len(steps),
                      "generations": cut.generations if cut else 0})


# -- select ----------------------------------------------------------------------------------


def select(ctx: StageContext, p: P.RoundsParams, r: int, candidates: list[Item]) -> list[Item]:
    by_hash = {it.item_hash: it for it in candidates}
    unit = Unit(f"r{r}:select", r)
    if unit.key not in runs.finished_units(ctx.store, ctx.run_id, STAGE):
        method = p.select.method
        values: dict[str, float] = {h: 0.0 for h in by_hash}
        if method != "random":
            by_id = {it.id: it.item_hash for it in candidates}
            for t in round_traces(ctx, "score", r):
                if t.item_id in by_id:
                    parsed = t.parsed or {}
                    values[by_id[t.item_id]] = float(
                        parsed["h_cons"] if method == "max_entropy" else
                        parsed["least_confidence"] if method == "least_confidence" else
                        parsed["combined"])
        chosen = S.select(values, p.budget, method=method, seed=ctx.recipe.seed * 1000 + r)
        with ctx.commit(unit):
            ids = [by_hash[h].id for h in chosen]
            ctx.trace(role="selection", output=f"round {r}: {method} chose {len(ids)} of "
                      f"{len(values)} items: {', '.join(map(str, ids))}",
                      parsed={"round": r, "method": method, "selected": ids,
                              "scores": {str(by_hash[h].id): v for h, v in values.items()}})
    sel = next(t for t in round_traces(ctx, "selection", r))
    picked = set((sel.parsed or {})["selected"])
    return [it for it in candidates if it.id in picked]


# -- revise ----------------------------------------------------------------------------------


def revise(ctx: StageContext, p: P.RoundsParams, r: int, chosen: list[Item]) -> None:
    from engine.tasks import get_task
    from engine.teacher import open_teacher

    checker = get_task(p.task)
    chains = explored(ctx, r)
    pending = list(ctx.pending(chosen, key=lambda it: f"r{r}:revise:{it.item_hash}"))
    if not pending:
        return
    spec = ctx.recipe.teacher
    prompts = Prompts(ctx.loaded.base_dir, p.revise.verify_step_template,
                      p.revise.verify_all_template, p.revise.revise_template,
                      p.revise.verify_max_tokens, p.revise.max_tokens or spec.max_tokens,
                      spec.temperature)
    with open_teacher(spec, store=ctx.store, run_id=ctx.run_id, stage=ctx.stage) as teacher:
        for group in chunks(pending, spec.concurrency):
            students = [majority_chain(chains[u.value.id])[0] for u in group]
            todo = []
            for u, t in zip(group, students, strict=True):
                parsed = chain_steps(t.output or "")
                todo.append(Chain(question(u.value), parsed.texts, parsed.answer_line,
                                  t.verdict == "passed"))

            def keep(outs: list[Outcome], group: list[Unit[Item]] = group,
                     students: list[traces.Trace] = students, todo: list[Chain] = todo) -> None:
                for unit, student_trace, chain, out in zip(group, students, todo, outs,
                                                           strict=True):
                    if out.done:
                        with ctx.commit(unit):
                            store_revision(ctx, r, unit.value, student_trace, chain, out,
                                           checker)

            keep(check_chains(teacher, prompts, todo, mode=p.revise.verify, on_stop=keep))


def store_revision(ctx: StageContext, r: int, item: Item, student_trace: traces.Trace,
                   chain: Chain, out: Outcome, checker: Any) -> None:
    """The revised chain as a child of the student's, and the teacher's verdicts on the
    student's steps (steps after the first No are not judged)."""
    steps = [s for s in traces.get_trace(ctx.store, student_trace.id).steps if s.kind == "step"]
    for number, (step, verdict) in enumerate(zip(steps, out.verdicts, strict=False), start=1):
        traces.set_step_verdict(ctx.store, step.id, "correct" if verdict else "wrong",
                                "teacher", {"verdict_read": verdict is not None,
                                            "round": r, "step": number})
    kept = (out.first_no - 1) if out.first_no else (len(chain.steps) if out.kind == "accepted"
                                                    else 0)
    stored = steps_of(out.revised)
    stored = [StepIn(s.text, kind=s.kind, verdict="correct" if i < kept else "unknown",
                     verdict_by="teacher" if i < kept else None) for i, s in enumerate(stored)]
    verdict = checker.verify(out.revised, item.data) if out.revised else None
    calls = out.yes_calls + out.rewrite_calls
    # a rewrite the parser could not read (no steps, no answer line) is kept out of training
    trainable = out.kind != "error" and bool(out.revised) and "rewrite:" not in out.flag
    ctx.trace(role="revised", item_id=item.id, model=ctx.recipe.teacher.model,
              prompt=(out.rewrite_calls[0].request.messages[-1]["content"]
                      if out.rewrite_calls else None),
              output=out.revised, parent_id=student_trace.id, steps=stored,
              verdict=None if verdict is None else "passed" if verdict.passed else "failed",
              flag=out.flag or None,
              tokens_in=sum(c.tokens_in for c in calls),
              tokens_out=sum(c.tokens_out for c in calls),
              cost_usd=sum(c.cost_usd for c in calls), latency_s=sum(c.latency_s for c in calls),
              parsed={"round": r, "kind": out.kind, "first_no": out.first_no,
                      "verdicts": out.verdicts, "kept_steps": kept, "trainable": trainable,
                      "yes_calls": len(out.yes_calls), "yes_tokens": tokens(out.yes_calls),
                      "rewrite_calls": len(out.rewrite_calls),
                      "rewrite_tokens": tokens(out.rewrite_calls),
                      "student_right": chain.answer_right,
                      "predicted": None if verdict is None else verdict.predicted})


# -- train -----------------------------------------------------------------------------------


def train(ctx: StageContext, p: P.RoundsParams, r: int) -> None:
    unit = Unit(f"r{r}:train", r)
    if unit.key in runs.finished_units(ctx.store, ctx.run_id, STAGE):
        return
    items = {it.id: it for it in ctx.items("train")}
    rows = [{"prompt": student_messages(ctx, items[t.item_id]), "completion": t.output}
            for t in stage_traces(ctx, STAGE, "revised")
            if round_of(t) <= r and (t.parsed or {}).get("trainable") and t.item_id in items]
    if rows:
        init = round_adapter(ctx, r - 1) if p.train.init == "continue" else None
        ctx.log(f"round {r}: training on {len(rows)} revised chains"
                f"{' from the previous adapter' if init else ''}")
        train_stage(ctx, rows, folder=f"train_r{r}", init_adapter=init,
                    metric_prefix=f"train_r{r}", meta={"round": r}, step=r)
    else:
        ctx.log(f"round {r}: no usable revised chain yet; the student stays as it was",
                "warning")
    with ctx.commit(unit):
        ctx.metric("train_rows", float(len(rows)), r)


# -- evaluate --------------------------------------------------------------------------------


def evaluate(ctx: StageContext, p: P.RoundsParams, r: int, student: Student) -> None:
    from engine.paradigms.blocks import report_accuracy

    spec = ctx.recipe.evaluation
    pending = list(ctx.pending(eval_items(ctx), key=lambda it: f"r{r}:eval:{it.item_hash}"))
    if pending:
        model, tok = student.get(round_adapter(ctx, r))
        for group in chunks(pending, p.batch_size):
            prompts = [student_messages(ctx, u.value) for u in group]
            checked = sample_verified(ctx, model, tok, [u.value for u in group], prompts,
                                      task=p.task, k=spec.samples,
                                      temperature=spec.temperature,
                                      max_new_tokens=spec.max_new_tokens,
                                      batch_size=p.batch_size, seed=ctx.recipe.seed)
            for unit, prompt, answers in zip(group, prompts, checked, strict=True):
                with ctx.commit(unit):
                    for j, answer in enumerate(answers):
                        tid = store_checked(ctx, unit.value, answer, role="student",
                                            prompt=prompt[-1]["content"], sample_index=j,
                                            steps=steps_of(answer.text), evaluate=False,
                                            parsed={"round": r})
                        traces.add_evaluation(ctx.store, run_id=ctx.run_id, stage=ctx.stage,
                                              item_id=unit.value.id, trace_id=tid,
                                              sample_index=j, passed=answer.passed,
                                              details={**answer.details, "round": r})
    passed = [bool(e["passed"]) for e in traces.evaluations(ctx.store, ctx.run_id, STAGE)
              if e["sample_index"] == 0 and (e["details"] or {}).get("round") == r]
    est = report_accuracy(ctx, passed, f"accuracy_r{r}", f"round {r} student")
    for name, value in (("accuracy", est.mean), ("accuracy_ci_low", est.low),
                        ("accuracy_ci_high", est.high), ("accuracy_n", float(est.n))):
        ctx.metric(name, value, r)


__all__ = ["baseline", "rounds"]
