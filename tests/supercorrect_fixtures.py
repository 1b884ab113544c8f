"""Shared pieces of the supercorrect tests: a lab recipe on the tiny student, store reads."""

from __future__ import annotations

from pathlib import Path

from . import paradigm_fixtures

STAGES = ("template", "hsft", "hsft_eval", "solve", "correct", "pairs", "dpo", "evaluate")


SHORT = {  # the tiny tokenizer spends a token per character or two: short student prompts
    "short/solve.j2": "XML steps, <Key>, <Generalized>, <Answer>.\nQuestion: {{ question }}",
    "short/self.j2": "Fix the first wrong step.\nQuestion: {{ question }}\n{{ attempt }}",
}


def write_recipe(folder: Path, student: Path, **kw: object) -> Path:
    text = recipe_text(student, **kw)  # type: ignore[arg-type]
    return paradigm_fixtures.write_recipe(folder, "sc.yaml", text, SHORT)


def recipe_text(student: Path, *, n: int = 24, latency_s: float = 0.0, extra: str = "") -> str:
    """The whole paradigm on lab problems with the scripted teacher (always right) and the
    tiny student (short prompts, see SHORT): a handful of training steps, short generations."""
    return (
        "schema_version: 1\nname: sc-test\nparadigm: supercorrect\nseed: 0\n"
        f"dataset:\n  lab: {{family: arith, n: {n}, digits: 1, ops: 3, mix: '+-x', seed: 3}}\n"
        "  split: {train: 0.6, validation: 0.1, test: 0.3}\n"
        f"teacher: {{kind: lab, concurrency: 2, max_tokens: 256, lab: {{latency_s: {latency_s}}}}}\n"
        f"student:\n  model: {student}\n  quantization: none\n  max_length: 384\n"
        "  gradient_checkpointing: false\n  lora: {r: 4, alpha: 8, dropout: 0.0}\n"
        "training: {max_steps: 3, batch_size: 2, grad_accum: 1, save_steps: 1, eval_steps: 1,\n"
        "           logging_steps: 1, learning_rate: 0.001, warmup_ratio: 0.0}\n"
        "evaluation: {split: test, max_new_tokens: 24, samples: 2, k: [1, 2], temperature: 0.7}\n"
        "stages:\n"
        "  hsft: {template: short/solve.j2}\n"
        "  solve: {max_new_tokens: 24}\n"
        "  correct: {batch: 2, inspect_rounds: 2, self_max_new_tokens: 16,\n"
        "            self_template: short/self.j2}\n"
        "  dpo: {max_steps: 3, learning_rate: 0.001}\n"
        "  evaluate: {task: gsm8k, batch_size: 8}\n" + extra)


def scripted_solution(question: str, index: int) -> str:
    """What a student that has learnt the template writes for a lab problem: right for
    index 0 mod 4, else wrong from step (index mod steps) + 1 on (a slip carried on)."""
    import random

    from engine.lab import corrections
    from engine.lab.arith import ArithItem, parse_question
    from engine.lab.mistakes import mistaken_steps

    parsed = parse_question(question)
    assert parsed is not None, question
    item = ArithItem(question, tuple(parsed.steps), parsed.distractors)
    steps = list(item.steps)
    if index % 4:
        k = index % len(steps) + 1
        rng = random.Random(index)
        steps = next(s for style in ("carry", "operation", "copy")
                     if (s := mistaken_steps(item, k, style, rng)) is not None)
    return corrections.xml_template(steps, parsed.things, steps[-1].result)


def scripted_solve(ctx) -> None:  # type: ignore[no-untyped-def]
    """Stand-in for the solve stage (a tiny random student writes no template, so nothing
    would be corrected): the same traces the real stage stores, with scripted solutions."""
    from engine.paradigms.blocks import Checked, store_checked
    from engine.paradigms.supercorrect import formats as F
    from engine.paradigms.supercorrect.stages import student_messages
    from engine.store import StepIn
    from engine.tasks import get_task

    checker = get_task("gsm8k")
    todo = ctx.items("train")
    for i, unit in enumerate(ctx.pending(todo, key=lambda it: it.item_hash)):
        text = scripted_solution(str(unit.value.data["question"]), i)
        verdict = checker.verify(F.answer_text(text), unit.value.data)
        parsed = F.parse_template(text)
        with ctx.commit(unit):
            store_checked(ctx, unit.value, Checked(text, 50, "stop", verdict.passed,
                                                   verdict.predicted, {}),
                          role="student", prompt=student_messages(ctx, unit.value)[-1]["content"],
                          steps=[StepIn(x.text, kind=x.kind) for x in parsed.pieces()],
                          parsed={"template_ok": parsed.ok, "reason": parsed.reason,
                                  "steps": len(parsed.steps)}, evaluate=False)


def with_scripted_solve(paradigm):  # type: ignore[no-untyped-def]
    import dataclasses

    return dataclasses.replace(paradigm, stages=tuple(
        dataclasses.replace(s, run=scripted_solve) if s.name == "solve" else s
        for s in paradigm.stages))
