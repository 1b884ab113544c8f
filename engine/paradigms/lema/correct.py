"""The `correct` stage: the teacher's correction triplet for each kept mistake.

For each mistake of the sample stage (and, in the evolve stage, of the evolved questions),
the teacher gets LEMA's few-shot prompt with the student's path as the "Original Solution"
and completes after "Incorrect Step:". The answer is parsed (``formats.parse_triplet``)
and kept only when it names a step of the path, has an explanation and a corrected
solution, and that solution's final answer is the gold one. Every other correction is
stored too, flagged, with ``parsed.drop`` one of ``DROPS`` (the GUI filters on it) and
the parser's reason as the flag. For a kept correction, the student's steps before k get
the verdict ``correct`` and step k ``wrong``, by the teacher. One mistake is one unit
(``ask_units``): a resumed stage asks only what was not answered.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from engine.paradigms.blocks import ask_units, stage_params, stage_traces, teacher_text, usage
from engine.paradigms.lema import params as P
from engine.paradigms.lema.formats import Triplet, parse_triplet
from engine.paradigms.lema.stages import problem_of, question, task
from engine.prompts import render
from engine.stage import StageContext, Unit
from engine.store import StepIn, traces
from engine.store.items import Item
from engine.store.traces import Trace

DROPS = ("no triplet", "bad step number", "wrong answer", "teacher error")


def drop_reason(triplet: Triplet, error: str | None, checker: Any,
                data: dict[str, Any]) -> tuple[str | None, str]:
    """(the drop category or None when the correction is kept, the reason in words)."""
    if error:
        return "teacher error", error
    if triplet.reason:
        bad_step = "is not a step" in triplet.reason or "two Incorrect Step" in triplet.reason
        return ("bad step number" if bad_step else "no triplet"), triplet.reason
    # the task reads the answer line (a number for gsm8k, an expression for MATH)
    verdict = checker.verify(triplet.answer_line or "", data)
    if not verdict.passed:
        return "wrong answer", f"corrected answer {verdict.predicted} is not the gold {verdict.gold}"
    return None, ""


def triplet_steps(t: Triplet) -> list[StepIn]:
    """A correction as stored steps: the incorrect step, the explanation, the new steps."""
    pieces = [StepIn(f"Step {t.step}", kind="incorrect_step")] if t.step else []
    pieces += [StepIn(t.explanation, kind="explanation")] if t.explanation else []
    pieces += [StepIn(f"Step {k}: {s}", kind="correction")
               for k, s in enumerate(t.steps, start=t.step or 1)]
    return pieces + ([StepIn(f"The answer is {t.answer}.", kind="answer")]
                     if t.answer is not None else [])


def correct_mistakes(ctx: StageContext, mistakes: Sequence[Trace], items: dict[int, Item],
                     *, key_prefix: str = "") -> tuple[int, int]:
    """Ask, parse, filter and store the corrections of ``mistakes`` (pending ones only);
    returns (kept, dropped) among those handled now."""
    from engine.tasks import get_task
    from engine.teacher import Request, Result

    p = stage_params(ctx, "correct", P.CorrectParams)
    checker = get_task(task(ctx))
    max_tokens = p.max_tokens or ctx.recipe.teacher.max_tokens
    counts = [0, 0]

    def prompt_of(t: Trace) -> str:
        problem = problem_of(t, items[t.item_id or 0])
        return render(p.template, ctx.loaded.base_dir, question=question(problem),
                      solution=str((t.parsed or {}).get("chain", "")))

    def requests_for(t: Trace) -> list[Request]:
        return [Request(messages=[{"role": "user", "content": prompt_of(t)}],
                        max_tokens=max_tokens, temperature=ctx.recipe.teacher.temperature)]

    def store(unit: Unit[Trace], results: list[Result]) -> None:
        student = unit.value
        problem = problem_of(student, items[student.item_id or 0])
        n_steps = int((student.parsed or {}).get("steps") or 0)
        text = teacher_text(results[0])
        triplet = parse_triplet(text, n_steps)
        error = results[0].error
        drop, why = drop_reason(triplet, str(error) if error else None, checker, problem.data)
        counts[drop is not None] += 1
        with ctx.commit(unit):
            ctx.trace(role="corrector", item_id=student.item_id, model=ctx.recipe.teacher.model,
                      prompt=prompt_of(student), output=text, parent_id=student.id,
                      verdict="failed" if drop else "passed", flag=why or None,
                      parsed={"step": triplet.step, "drop": drop, "answer": triplet.answer,
                              "elided": triplet.elided, "notes": triplet.notes,
                              "student_trace": student.id, "split": items[student.item_id
                                                                          or 0].split},
                      steps=triplet_steps(triplet), **usage(results))
            if drop is None and triplet.step is not None:
                steps = [s for s in traces.get_trace(ctx.store, student.id).steps
                         if s.kind == "step"]
                for number, step in enumerate(steps[:triplet.step], start=1):
                    traces.set_step_verdict(ctx.store, step.id, "wrong" if
                                            number == triplet.step else "correct", "teacher")

    units = list(ctx.pending(mistakes, key=lambda t: f"{key_prefix}trace-{t.id}"))
    ask_units(ctx, units, requests_for, store, batch=p.batch)
    return counts[0], counts[1]


def mistakes_of(ctx: StageContext, stage: str) -> list[Trace]:
    return [t for t in stage_traces(ctx, stage) if (t.parsed or {}).get("mistake")]


def report_drops(ctx: StageContext, stage: str) -> None:
    stored = stage_traces(ctx, stage, "corrector")
    kept = sum(t.verdict == "passed" for t in stored)
    ctx.metric("corrections_kept", float(kept))
    for name in DROPS:
        n = sum((t.parsed or {}).get("drop") == name for t in stored)
        ctx.metric(f"corrections_dropped/{name.replace(' ', '_')}", float(n))
    ctx.log(f"{kept} of {len(stored)} corrections kept; dropped: " + ", ".join(
        f"{name} {sum((t.parsed or {}).get('drop') == name for t in stored)}" for name in DROPS))


def correct(ctx: StageContext) -> None:
    items = {it.id: it for s in ("train", "validation") for it in ctx.items(s)}
    mistakes = [t for t in mistakes_of(ctx, "sample") if t.item_id in items]
    correct_mistakes(ctx, mistakes, items)
    report_drops(ctx, "correct")


__all__ = ["DROPS", "correct", "correct_mistakes", "drop_reason", "mistakes_of"]
