"""The `correct` stage: the teacher's and the student's corrections of each wrong solution.

For every wrong solution of the solve stage that has steps, in chunks committed one
solution at a time:

1. the teacher, seeing the reference solution, names the first wrong step k with its
   <Cause> and <Correction> and the right <Answer> (role ``corrector``, child of the
   student's trace). It is flagged when it does not parse, names a step the solution does
   not reach, or its answer is not the gold one;
2. optionally an inspector checks that correction against the reference, up to
   ``inspect_rounds`` times, each round a child trace of the one before; a round that
   repeats the correction ends them, one that changes it replaces it;
3. the student (the HSFT adapter, no reference) corrects itself: its answer is started as
   ``<Stepk><Cause>`` for the teacher's k and led through ``<Correction>``, so what it
   writes is its own cause and correction of that step (role ``self-corrector``);
4. the student's steps get verdicts by the teacher: 1..k-1 correct, k wrong.

The final correction's trace carries ``parsed.final``; the pairs stage reads it. A budget
stop commits nothing of the chunk in flight; its teacher answers are cached, so a resumed
stage pays nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.paradigms.blocks import (
    ask_all,
    chunks,
    load_for_inference,
    params_of,
    stage_params,
    stage_traces,
    teacher_text,
    trained_adapter,
    usage,
)
from engine.paradigms.supercorrect import formats as F
from engine.paradigms.supercorrect import params as P
from engine.paradigms.supercorrect.stages import answer_format, question, task
from engine.prompts import render
from engine.stage import StageContext, Unit
from engine.store import StepIn, traces
from engine.store.items import Item
from engine.store.traces import Trace


@dataclass
class Fix:
    """One wrong solution's corrections while its chunk is worked on."""

    student: Trace
    item: Item
    chain: list[tuple[str, str, Any, F.Correction, str]] = field(default_factory=list)
    # (role, prompt, result, parsed, flag reason) per teacher / inspector call
    final: int | None = None  # index in chain of the correction the pair uses
    self_text: str = ""  # the student's self-correction, its prefill included
    self_prompt: str = ""
    self_tokens: int = 0

    @property
    def k(self) -> int | None:
        return self.chain[self.final][3].step if self.final is not None else None


def correction_steps(c: F.Correction) -> list[StepIn]:
    return [StepIn(text, kind=kind) for kind, text in
            (("cause", c.cause), ("correction", c.correction), ("answer", c.answer)) if text]


def _same(a: F.Correction, b: F.Correction) -> bool:
    return a.step == b.step and " ".join((a.correction or "").split()) == \
        " ".join((b.correction or "").split())


class Corrector:
    """The stage's state: parameters, prompts, the checker, the student loaded on demand."""

    def __init__(self, ctx: StageContext) -> None:
        from engine.tasks import get_task

        self.ctx = ctx
        self.p = params_of(ctx, P.CorrectParams)
        self.checker = get_task(task(ctx))
        self.solution_field = stage_params(ctx, "template", P.TemplateParams).solution_field
        self.max_tokens = self.p.max_tokens or ctx.recipe.teacher.max_tokens
        self.model: Any = None
        self.tokenizer: Any = None

    def prompt(self, template: str, fix: Fix, **extra: str) -> str:
        return render(template, self.ctx.loaded.base_dir, question=question(fix.item),
                      solution=str(fix.item.data.get(self.solution_field, "")),
                      attempt=fix.student.output or "", answer_format=answer_format(self.ctx),
                      **extra)

    def check(self, fix: Fix, text: str, result: Any) -> tuple[F.Correction, str]:
        parsed = F.parse_correction(text)
        reason = parsed.reason or (result.error or "")
        n_steps = int((fix.student.parsed or {}).get("steps") or 0)
        if not reason and not 1 <= (parsed.step or 0) <= n_steps + 1:
            reason = f"names Step {parsed.step}; the solution has {n_steps} steps"
        if not reason:
            verdict = self.checker.verify(parsed.answer or "", fix.item.data)
            if not verdict.passed:
                reason = f"<Answer> {verdict.predicted} is not the gold answer {verdict.gold}"
        return parsed, reason

    def ask(self, teacher: Any, fixes: list[Fix], role: str, template: str) -> None:
        """One teacher call per fix (correction, or an inspector round on the current one)."""
        from engine.teacher import Request

        prompts = []
        for fix in fixes:
            extra = {"correction": teacher_text(fix.chain[fix.final][2])} \
                if fix.final is not None else {}
            prompts.append(self.prompt(template, fix, **extra))
        requests = [Request(messages=[{"role": "user", "content": text}],
                            max_tokens=self.max_tokens,
                            temperature=self.ctx.recipe.teacher.temperature) for text in prompts]
        results, stop = ask_all(teacher, requests)
        if stop is not None:
            raise stop
        for fix, text, result in zip(fixes, prompts, results, strict=True):
            assert result is not None  # every answer came back: no budget stop
            parsed, reason = self.check(fix, teacher_text(result), result)
            fix.chain.append((role, text, result, parsed, reason))
            if role == "corrector":
                fix.final = None if reason else 0
            elif not reason and fix.final is not None:
                fix.final = len(fix.chain) - 1

    def inspect(self, teacher: Any, fixes: list[Fix]) -> None:
        open_ = [f for f in fixes if f.final is not None]
        for _ in range(self.p.inspect_rounds):
            if not open_:
                return
            before = {id(f): f.chain[f.final][3] for f in open_ if f.final is not None}
            self.ask(teacher, open_, "inspector", self.p.inspect_template)
            open_ = [f for f in open_ if not f.chain[-1][4]
                     and not _same(f.chain[-1][3], before[id(f)])]

    def self_correct(self, fixes: list[Fix]) -> None:
        """The student's cause, then its correction, of the teacher's step k: its answer is
        started with ``<Stepk><Cause>``, generated to ``</Cause>``, then continued with
        ``<Correction>`` and generated to ``</Correction>`` (so even a student that has never
        seen the format gives a cause and a correction of that step, in its own words)."""
        from engine.student.chat import render_prompt

        todo = [f for f in fixes if f.k is not None]
        if not todo:
            return
        if self.model is None:
            self.model, self.tokenizer = load_for_inference(self.ctx,
                                                            trained_adapter(self.ctx, "hsft"))
        texts = []
        for fix in todo:
            fix.self_prompt = self.prompt(self.p.self_template, fix)
            texts.append(render_prompt(self.tokenizer,
                                       [{"role": "user", "content": fix.self_prompt}]))
        written = [F.self_correction_prefill(f.k or 1) for f in todo]
        for stop, then in (("</Cause>", "</Cause>\n<Correction>"),
                           ("</Correction>", "</Correction>\n")):
            outs = self._generate([t + w for t, w in zip(texts, written, strict=True)], stop)
            for i, (fix, (text, tokens)) in enumerate(zip(todo, outs, strict=True)):
                written[i] += text.strip() + then
                fix.self_tokens += tokens
        for fix, text in zip(todo, written, strict=True):
            fix.self_text = text + f"</Step{fix.k}>"
        self.ctx.metric("cost/student_gen_tokens", float(sum(f.self_tokens for f in todo)))

    def _generate(self, prompts: list[str], stop: str) -> list[tuple[str, int]]:
        from engine.student import sample

        outs = sample(self.model, self.tokenizer, prompts, k=1,
                      temperature=self.p.self_temperature,
                      max_new_tokens=self.p.self_max_new_tokens, stop=(stop,),
                      seed=self.ctx.recipe.seed, batch_size=len(prompts))
        return [(o[0].text.split(stop)[0], o[0].tokens) for o in outs]

    def store(self, unit: Unit[Fix]) -> None:
        fix, ctx = unit.value, self.ctx
        parent = fix.student.id
        with ctx.commit(unit):
            for i, (role, prompt, result, parsed, reason) in enumerate(fix.chain):
                parent = ctx.trace(
                    role=role, item_id=fix.item.id, model=ctx.recipe.teacher.model,
                    prompt=prompt, output=teacher_text(result), parent_id=parent,
                    verdict="failed" if reason else "passed", flag=reason or None,
                    parsed={"step": parsed.step, "final": i == fix.final,
                            "student_trace": fix.student.id, "repaired": parsed.repaired},
                    steps=correction_steps(parsed), **usage([result]))
            if fix.k is None:
                return
            cause, correction = F.read_self_correction(fix.self_text)
            ctx.trace(role="self-corrector", item_id=fix.item.id, model=ctx.recipe.student.model,
                      prompt=fix.self_prompt, output=fix.self_text, parent_id=fix.student.id,
                      tokens_out=fix.self_tokens,
                      parsed={"step": fix.k, "cause": cause, "correction": correction,
                              "student_trace": fix.student.id},
                      steps=[StepIn(t, kind=kd) for kd, t in
                             (("cause", cause), ("correction", correction)) if t])
            steps = [s for s in traces.get_trace(ctx.store, fix.student.id).steps
                     if s.kind == "step"]
            for number, step in enumerate(steps, start=1):
                if number <= fix.k:
                    traces.set_step_verdict(ctx.store, step.id,
                                            "wrong" if number == fix.k else "correct", "teacher")


def wrong_solutions(ctx: StageContext) -> list[Trace]:
    """The solve stage's wrong solutions that have steps to correct."""
    return [t for t in stage_traces(ctx, "solve", "student")
            if t.verdict == "failed" and int((t.parsed or {}).get("steps") or 0) > 0]


def correct(ctx: StageContext) -> None:
    from engine.teacher import open_teacher

    worker = Corrector(ctx)
    items = {it.id: it for it in ctx.items("train")}
    wrong = [t for t in wrong_solutions(ctx) if t.item_id in items]
    units = list(ctx.pending(wrong, key=lambda t: f"trace-{t.id}"))
    if not units:
        return
    fixes = [Unit(u.key, Fix(u.value, items[u.value.item_id or 0])) for u in units]
    with open_teacher(ctx.recipe.teacher, store=ctx.store, run_id=ctx.run_id,
                      stage=ctx.stage) as teacher:
        for chunk in chunks(fixes, worker.p.batch or ctx.recipe.teacher.concurrency):
            values = [u.value for u in chunk]
            worker.ask(teacher, values, "corrector", worker.p.template)
            worker.inspect(teacher, values)
            worker.self_correct(values)
            for unit in chunk:
                worker.store(unit)
    ctx.log(f"corrected {len(units)} wrong solutions")


__all__ = ["correct", "correction_steps", "wrong_solutions"]
