"""The optional `evolve` stage: correction-centric evolution (LEMA's data expansion).

Seeds are only training questions that got a kept correction (the "moderately difficult"
ones). For each seed the teacher, as a math teacher, writes ``count`` new questions
(role ``evolver``); each new question is answered ``votes`` times and labelled by the
majority (role ``labeller``; no majority: flagged and dropped); the base student samples
paths for the labelled ones and the teacher corrects the wrong ones, as the sample and
correct stages do. Everything is stored on the seed item, the new question and its label
in ``parsed``; each phase commits unit by unit, so a resumed stage pays nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.paradigms.blocks import ask_units, params_of, stage_params, stage_traces, teacher_text, usage
from engine.paradigms.lema import params as P
from engine.paradigms.lema.correct import correct_mistakes, mistakes_of, report_drops
from engine.paradigms.lema.formats import majority, parse_questions
from engine.paradigms.lema.stages import Mistakes, problem_of, question, sample_student
from engine.prompts import render
from engine.stage import StageContext, Unit
from engine.store.items import Item
from engine.store.traces import Trace


def label(answers: Sequence[str], extract: object) -> tuple[list[str | None], str | None]:
    """Each answer's number (the task's extraction) and the majority label (None: dropped)."""
    numbers = [extract(a) for a in answers]  # type: ignore[operator]
    return numbers, majority(numbers)


def _ask_questions(ctx: StageContext, p: P.EvolveParams, seeds: list[Item]) -> None:
    from engine.teacher import Request, Result

    def prompt(item: Item) -> str:
        return render(p.template, ctx.loaded.base_dir, question=question(item), count=p.count,
                      difficulty=p.difficulty)

    def store(unit: Unit[Item], results: list[Result]) -> None:
        text = teacher_text(results[0])
        found = parse_questions(text)
        with ctx.commit(unit):
            ctx.trace(role="evolver", item_id=unit.value.id, model=ctx.recipe.teacher.model,
                      prompt=prompt(unit.value), output=text, parsed={"questions": found},
                      verdict="passed" if found else "failed",
                      flag=None if found else "no 'New Question k:' lines", **usage(results))

    ask_units(ctx, list(ctx.pending(seeds, key=lambda it: f"seed:{it.item_hash}")),
              lambda it: [Request(messages=[{"role": "user", "content": prompt(it)}],
                                  temperature=ctx.recipe.teacher.temperature)], store)


def _label_questions(ctx: StageContext, p: P.EvolveParams) -> None:
    from engine.tasks import get_task
    from engine.teacher import Request, Result

    extract = get_task(stage_params(ctx, "evaluate", P.EvaluateParams).task).extract
    todo = [(t, j, q) for t in stage_traces(ctx, "evolve", "evolver")
            for j, q in enumerate((t.parsed or {}).get("questions") or [])]

    def prompt(q: str) -> str:
        return render(p.answer_template, ctx.loaded.base_dir, question=q)

    def store(unit: Unit[tuple[Trace, int, str]], results: list[Result]) -> None:
        evolver, _, q = unit.value
        answers = [c.text for c in results[0].completions]
        numbers, winner = label(answers, extract)
        with ctx.commit(unit):
            ctx.trace(role="labeller", item_id=evolver.item_id, model=ctx.recipe.teacher.model,
                      prompt=prompt(q), output="\n---\n".join(answers), parent_id=evolver.id,
                      parsed={"question": q, "answers": numbers, "label": winner},
                      verdict="passed" if winner is not None else "failed",
                      flag=None if winner is not None else
                      f"no majority among {numbers}: dropped", **usage(results))

    ask_units(ctx, list(ctx.pending(todo, key=lambda u: f"label:{u[0].id}:{u[1]}")),
              lambda u: [Request(messages=[{"role": "user", "content": prompt(u[2])}],
                                 n=p.votes, temperature=p.vote_temperature)], store)


def evolve(ctx: StageContext) -> None:
    p = params_of(ctx, P.EvolveParams)
    if not p.enabled:
        ctx.log("evolve.enabled is false: no evolved questions")
        return
    items = {it.id: it for it in ctx.items("train")}
    corrected = {t.item_id for t in stage_traces(ctx, "correct", "corrector")
                 if t.verdict == "passed" and t.item_id in items}
    seeds = [it for it in items.values() if it.id in corrected][:p.seeds]
    _ask_questions(ctx, p, seeds)
    _label_questions(ctx, p)
    labelled = [t for t in stage_traces(ctx, "evolve", "labeller") if t.verdict == "passed"]
    sample_p = stage_params(ctx, "sample", P.SampleParams)
    extra = {f"student:label-{t.id}": {"question": t.parsed["question"],
                                        "answer": t.parsed["label"], "parent": t.id}
             for t in labelled if t.parsed}
    pairs = [(f"student:label-{t.id}", problem_of(t, items[t.item_id or 0]))
             for t in labelled if t.parsed]
    problems = [Unit(u.key, u.value[1]) for u in ctx.pending(pairs, key=lambda v: v[0])]
    if sample_p.student:
        sample_student(ctx, problems, sample_p, Mistakes(sample_p, stage_traces(ctx, ctx.stage)), extra)
    correct_mistakes(ctx, mistakes_of(ctx, "evolve"), items, key_prefix="fix:")
    dropped = sum(t.verdict == "failed" for t in stage_traces(ctx, "evolve", "labeller"))
    ctx.metric("evolved_questions", float(len(labelled)))
    ctx.metric("evolved_dropped_no_majority", float(dropped))
    ctx.log(f"{len(labelled)} evolved questions labelled by a majority, {dropped} dropped")
    report_drops(ctx, "evolve")


__all__ = ["evolve", "label"]
