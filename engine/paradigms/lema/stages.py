"""Stages of `lema` that read and sample: baseline, sample, cot; and the shared helpers.

baseline: the untrained student answers the evaluation items. sample: the student (and any
endpoints listed) sample k paths per question; each is verified against the gold answer,
and the wrong ones that have steps become mistakes (identical paths of a question counted
once, at most ``per_question`` kept). cot: the teacher's (or the data set's) step-by-step
solutions, verified; with ``extra: correction_budget`` it spends the teacher tokens the
corrections cost on more CoT instead (the "CoT + more CoT" arm).

A *problem* is a question with its gold answer: a data set item, or a question the evolve
stage wrote (then stored on its seed item, with ``parsed.question`` and ``parsed.answer``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

from engine.errors import DistillabError
from engine.paradigms.blocks import (
    Messages,
    ask_all,
    ask_units,
    chunks,
    evaluate_student,
    load_for_inference,
    params_of,
    sample_verified,
    stage_params,
    stage_traces,
    store_checked,
    teacher_text,
    usage,
)
from engine.paradigms.lema import params as P
from engine.paradigms.lema.rows import Chain, as_chain
from engine.prompts import render
from engine.stage import StageContext, Unit
from engine.store import StepIn
from engine.store.items import Item
from engine.store.traces import Trace

# -- shared helpers --------------------------------------------------------------------------


def question(item: Item) -> str:
    return str(item.data.get("question", ""))


def student_messages(ctx: StageContext, q: str) -> Messages:
    """The student's CoT prompt in LEMA's layout (training, sampling and evaluation)."""
    template = stage_params(ctx, "train", P.TrainParams).student_template
    return [{"role": "user", "content": render(template, ctx.loaded.base_dir, question=q)}]


def task(ctx: StageContext) -> str:
    return stage_params(ctx, "evaluate", P.EvaluateParams).task


def batch_size(ctx: StageContext) -> int:
    return stage_params(ctx, "evaluate", P.EvaluateParams).batch_size


def chain_pieces(chain: Chain) -> list[StepIn]:
    return [StepIn(t) for t in chain.steps] + \
        ([StepIn(chain.answer_line, kind="answer")] if chain.answer_line else [])


def output_steps(text: str) -> list[StepIn]:
    return chain_pieces(as_chain(text))


def problem_of(trace: Trace, item: Item) -> Item:
    """The problem a trace is about: its item, or the evolved question stored on it."""
    parsed = trace.parsed or {}
    answer = parsed.get("answer", parsed.get("label"))
    if "question" in parsed and answer is not None:
        return dataclasses.replace(item, data={"question": parsed["question"], "answer": answer})
    return item


def split_items(ctx: StageContext, splits: Sequence[str], limit: int | None) -> list[Item]:
    return [it for s in splits for it in (ctx.items(s)[:limit] if limit else ctx.items(s))]


# -- baseline --------------------------------------------------------------------------------


def baseline(ctx: StageContext) -> None:
    if not params_of(ctx, P.BaselineParams).enabled:
        ctx.log("baseline.enabled is false: no evaluation before training")
        return
    evaluate_student(ctx, adapter=None, prompt_for=lambda it: student_messages(ctx, question(it)),
                     task=task(ctx), role="student-base", metric="accuracy_base",
                     what="untrained student", batch_size=batch_size(ctx),
                     steps_for=output_steps)


# -- sample ----------------------------------------------------------------------------------


class Mistakes:
    """Which wrong paths are kept: distinct per problem, with steps, at most per_question
    from each source (the student, each endpoint)."""

    def __init__(self, p: P.SampleParams, stored: Sequence[Trace] = ()) -> None:
        self.p = p
        self.seen: dict[tuple[int | None, str], set[str]] = {}
        self.kept: dict[tuple[int | None, str, str], int] = {}
        for t in stored:  # a resumed stage knows what it kept
            parsed = t.parsed or {}
            if parsed.get("mistake"):
                self._note(t.item_id, parsed, str(parsed.get("source", "")))

    def _note(self, item_id: int | None, parsed: dict[str, Any], source: str) -> None:
        problem = str(parsed.get("question", ""))
        self.seen.setdefault((item_id, problem), set()).add(" ".join(str(parsed["chain"]).split()))
        key = (item_id, problem, source)
        self.kept[key] = self.kept.get(key, 0) + 1

    def judge(self, item_id: int | None, text: str, passed: bool, problem: dict[str, Any],
              source: str = "student") -> dict[str, Any]:
        """The sample's parsed record: its chain, and whether it is kept as a mistake (or
        why not)."""
        chain = as_chain(text)
        record: dict[str, Any] = {"chain": chain.text(), "steps": len(chain.steps),
                                  "mistake": False, "source": source, **problem}
        if passed:
            return record
        question_ = str(problem.get("question", ""))
        if not chain.steps:
            record["skip"] = "no steps"
        elif len(chain.steps) > self.p.max_steps:
            record["skip"] = f"more than {self.p.max_steps} steps"
        elif " ".join(chain.text().split()) in self.seen.get((item_id, question_), set()):
            record["skip"] = "duplicate path"
        elif self.p.per_question is not None and \
                self.kept.get((item_id, question_, source), 0) >= self.p.per_question:
            record["skip"] = f"already {self.p.per_question} mistakes for this question"
        else:
            record["mistake"] = True
            self._note(item_id, record, source)
        return record


def sample_student(ctx: StageContext, problems: Sequence[Unit[Item]], p: P.SampleParams,
                   mistakes: Mistakes, extra: dict[str, dict[str, Any]] | None = None) -> None:
    """k paths per problem from the base student, verified, stored (role ``student``) and
    judged as mistakes; ``extra`` adds parsed fields per unit key (evolved questions)."""
    if not problems:
        return
    model, tokenizer = load_for_inference(ctx, None)
    for group in chunks(list(problems), p.batch_size):
        prompts = [student_messages(ctx, question(u.value)) for u in group]
        checked = sample_verified(ctx, model, tokenizer, [u.value for u in group], prompts,
                                  task=task(ctx), k=p.k, temperature=p.temperature,
                                  max_new_tokens=p.max_new_tokens, batch_size=p.batch_size,
                                  seed=ctx.recipe.seed)
        for unit, prompt, paths in zip(group, prompts, checked, strict=True):
            more = (extra or {}).get(unit.key, {})
            with ctx.commit(unit):
                for j, path in enumerate(paths):
                    parsed = mistakes.judge(unit.value.id, path.text, path.passed, more)
                    store_checked(ctx, unit.value, path, role="student",
                                  prompt=prompt[-1]["content"], sample_index=j,
                                  steps=output_steps(path.text), parsed=parsed, evaluate=False,
                                  parent_id=more.get("parent"))


def sample_endpoint(ctx: StageContext, index: int, problems: Sequence[Unit[Item]],
                    p: P.SampleParams, mistakes: Mistakes) -> None:
    """k paths per problem from one of the listed endpoints (role ``sampler``)."""
    from engine.tasks import get_task
    from engine.teacher import Request, open_teacher

    spec = p.endpoints[index]
    checker = get_task(task(ctx))

    def prompt(item: Item) -> str:
        return render(p.endpoint_template, ctx.loaded.base_dir, question=question(item))

    with open_teacher(spec, store=ctx.store, run_id=ctx.run_id, stage=ctx.stage) as teacher:
        for chunk in chunks(list(problems), spec.concurrency):
            requests = [Request(messages=[{"role": "user", "content": prompt(u.value)}],
                                n=p.k, temperature=p.temperature, max_tokens=p.max_new_tokens)
                        for u in chunk]
            results, stop = ask_all(teacher, requests)
            for unit, result in zip(chunk, results, strict=True):
                if result is None:
                    continue
                with ctx.commit(unit):
                    for j, c in enumerate(result.completions):
                        verdict = checker.verify(c.text, unit.value.data)
                        parsed = mistakes.judge(unit.value.id, c.text, verdict.passed, {},
                                                f"endpoint{index}:{spec.model}")
                        ctx.trace(role="sampler", item_id=unit.value.id, model=spec.model,
                                  prompt=prompt(unit.value), output=c.text, sample_index=j,
                                  verdict="passed" if verdict.passed else "failed",
                                  score=float(verdict.passed), steps=output_steps(c.text),
                                  parsed={"predicted": verdict.predicted, **parsed},
                                  **(usage([result]) if j == 0 else {}))
            if stop is not None:
                raise stop


def sample(ctx: StageContext) -> None:
    p = params_of(ctx, P.SampleParams)
    if not p.student and not p.endpoints:
        raise DistillabError("stages.sample samples from nothing",
                             "set stages.sample.student: true or list endpoints")
    problems = split_items(ctx, p.splits, p.max_questions)
    mistakes = Mistakes(p, stage_traces(ctx, ctx.stage))
    if p.student:
        sample_student(ctx, list(ctx.pending(problems, key=lambda it: f"student:{it.item_hash}")),
                       p, mistakes)
    for i in range(len(p.endpoints)):
        prefix = f"endpoint{i}:"
        sample_endpoint(ctx, i, list(ctx.pending(problems, key=lambda it: prefix + it.item_hash)),
                        p, mistakes)
    stored = stage_traces(ctx, "sample")
    wrong = sum(t.verdict == "failed" for t in stored)
    kept = sum(bool((t.parsed or {}).get("mistake")) for t in stored)
    ctx.metric("sample_paths", float(len(stored)))
    ctx.metric("sample_wrong_share", wrong / len(stored) if stored else 0.0)
    ctx.metric("mistakes", float(kept))
    ctx.log(f"{wrong} of {len(stored)} sampled paths were wrong; {kept} kept as mistakes "
            "(distinct, with steps)")


# -- cot -------------------------------------------------------------------------------------


def correction_spend(ctx: StageContext) -> int:
    """Teacher tokens (in + out) the correct and evolve stages of this run spent (read from
    their traces, which a study copies when it reuses a stage)."""
    return sum((t.tokens_in or 0) + (t.tokens_out or 0) for stage in ("correct", "evolve")
               for t in stage_traces(ctx, stage) if t.role != "student")


def _tokens(t: Trace) -> int:
    return (t.tokens_in or 0) + (t.tokens_out or 0)


def extra_spend(ctx: StageContext) -> int:
    return sum(_tokens(t) for t in stage_traces(ctx, "cot") if (t.parsed or {}).get("extra"))


def extra_plan(solved: Sequence[Item], unsolved: Sequence[Item], n: int) -> list[tuple[Item, int]]:
    """The first n extra CoT requests: unsolved training questions first (sample 0), then
    more samples of every question in turn (sample 1, 2, ...)."""
    plan = [(it, 0) for it in unsolved][:n]
    pool = [*solved, *unsolved]
    j = 1
    while len(plan) < n and pool:
        plan += [(it, j) for it in pool][:n - len(plan)]
        j += 1
    return plan


def cot(ctx: StageContext) -> None:
    from engine.tasks import get_task
    from engine.teacher import Request, Result

    p = params_of(ctx, P.CotParams)
    checker = get_task(task(ctx))
    train = ctx.items("train")
    chosen = train[:p.max_questions] if p.max_questions else train
    solved = {it.id for it in chosen}
    todo = [(it, 0) for it in chosen] + [(it, 0) for s in p.splits if s != "train"
                                          for it in ctx.items(s)]
    max_tokens = p.max_tokens or ctx.recipe.teacher.max_tokens
    wrong = 0

    def keep(item: Item, index: int, text: str, model: str, prompt: str | None,
             **cost: Any) -> None:
        nonlocal wrong
        verdict = checker.verify(text, item.data)
        wrong += not verdict.passed
        ctx.trace(role="teacher" if p.source == "teacher" else "reference", item_id=item.id,
                  model=model, prompt=prompt, output=text, sample_index=index,
                  verdict="passed" if verdict.passed else "failed",
                  flag=None if verdict.passed else
                  f"wrong answer: {verdict.predicted} (gold {verdict.gold})",
                  parsed={"predicted": verdict.predicted,
                          "extra": index > 0 or (item.split == "train" and item.id not in solved)},
                  steps=output_steps(text), **cost)

    def prompt_of(item: Item) -> str:
        return render(p.template, ctx.loaded.base_dir, question=question(item))

    def requests_for(pair: tuple[Item, int]) -> list[Request]:
        item, index = pair
        return [Request(messages=[{"role": "user", "content": prompt_of(item)}],
                        max_tokens=max_tokens, seed=index or None,
                        temperature=p.extra_temperature if index else
                        ctx.recipe.teacher.temperature)]

    def store(unit: Unit[tuple[Item, int]], results: list[Result]) -> None:
        item, index = unit.value
        with ctx.commit(unit):
            keep(item, index, teacher_text(results[0]), ctx.recipe.teacher.model,
                 prompt_of(item), **usage(results))

    def key(pair: tuple[Item, int]) -> str:
        return f"{pair[0].item_hash}:{pair[1]}"

    if p.source == "gold":
        for unit in ctx.pending(todo, key=key):
            with ctx.commit(unit):
                keep(unit.value[0], 0, str(unit.value[0].data.get(p.gold_field, "")),
                     "dataset", None)
    else:
        ask_units(ctx, list(ctx.pending(todo, key=key)), requests_for, store, batch=p.batch)
    if p.extra == "correction_budget":
        budget = correction_spend(ctx)
        sizes = [_tokens(t) for t in stage_traces(ctx, "cot") if not (t.parsed or {}).get("extra")]
        smallest, largest = min(sizes, default=0), max(sizes, default=0)
        plan = extra_plan(chosen, [it for it in train if it.id not in solved],
                          math.ceil(budget / smallest) + 1 if smallest else 0)
        asked = 0
        while largest and (left := budget - extra_spend(ctx)) > 0:
            # as many calls as surely fit in what is left (1.5x the largest first call each;
            # at least one): only the last call crosses the budget, by less than its size
            n = max(1, int(left // (1.5 * largest)))
            chunk = list(ctx.pending(plan, key=key))[:n]
            if not chunk:
                break
            asked += len(chunk)
            ask_units(ctx, chunk, requests_for, store, batch=p.batch)
        got = extra_spend(ctx)
        ctx.metric("cot_extra_budget_tokens", float(budget))
        ctx.metric("cot_extra_tokens", float(got))
        ctx.log(f"extra CoT: {asked} requests now, {got} teacher tokens in all for a "
                f"correction budget of {budget}")
    if wrong:
        ctx.log(f"{wrong} CoT solutions had a wrong final answer and are kept out of training",
                "warning")


__all__ = ["baseline", "cot", "sample"]
