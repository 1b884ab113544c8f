"""Shared pieces of the elad tests: a lab recipe on the tiny student, scripted student chains.

The tiny random student writes no "Step k:" chains, so the teacher's step-by-step check
would see none; ``with_scripted_explore`` replaces the explore step with one that stores
lab chains (right, or wrong from a set step on) the way the real step stores samples.
Everything else (score passes with the tiny student, selection, the lab teacher's checks
and rewrites over HTTP, SFT, evaluation) runs for real."""

from __future__ import annotations

import random
from pathlib import Path

from . import paradigm_fixtures

SHORT = {"short/student.j2": "Solve step by step.\nQuestion: {{ question }}"}


def write_recipe(folder: Path, student: Path, **kw: object) -> Path:
    text = recipe_text(student, **kw)  # type: ignore[arg-type]
    return paradigm_fixtures.write_recipe(folder, "elad.yaml", text, SHORT)


def recipe_text(student: Path, *, n: int = 30, rounds: int = 2, budget: int = 3,
                method: str = "elad", latency_s: float = 0.0, verify: str = "per_step",
                extra: str = "") -> str:
    return (
        "schema_version: 1\nname: elad-test\nparadigm: elad\nseed: 0\n"
        f"dataset:\n  lab: {{family: arith, n: {n}, digits: 1, ops: 3, mix: '+-x', seed: 3}}\n"
        "  split: {train: 0.6, validation: 0.1, test: 0.3}\n"
        f"teacher: {{kind: lab, concurrency: 2, max_tokens: 128, lab: {{latency_s: {latency_s}}}"
        f"{extra}}}\n"
        f"student:\n  model: {student}\n  quantization: none\n  max_length: 256\n"
        "  gradient_checkpointing: false\n  lora: {r: 4, alpha: 8, dropout: 0.0}\n"
        "training: {max_steps: 3, batch_size: 2, grad_accum: 1, save_steps: 1, eval_steps: 1,\n"
        "           logging_steps: 1, learning_rate: 0.001, warmup_ratio: 0.0}\n"
        "evaluation: {split: test, max_new_tokens: 12}\n"
        "stages:\n"
        f"  rounds: {{rounds: {rounds}, budget: {budget}, pool: 12, batch_size: 8,\n"
        "           explore: {k: 3, max_new_tokens: 12},\n"
        "           score: {max_new_tokens: 8},\n"
        f"           select: {{method: {method}}}, revise: {{verify: {verify}}},\n"
        "           train: {template: short/student.j2, init: continue}}\n")


def scripted_chain(data: dict, wrong_at: int | None, seed: int = 0) -> str:
    """A lab chain for an item: the gold one, or wrong from step ``wrong_at`` on."""
    from engine.lab.arith import chain_text, item_from
    from engine.lab.mistakes import mistaken_steps

    item = item_from(data)
    if wrong_at is None:
        return chain_text(item.steps)
    rng = random.Random(seed)
    for style in ("carry", "operation", "copy"):
        steps = mistaken_steps(item, min(wrong_at, len(item.steps)), style, rng)
        if steps is not None:
            return chain_text(steps)
    return chain_text(item.steps, answer=item.answer + 1)  # every step right, answer wrong


def scripted_explore(ctx, p, r, items, k, student, adapter) -> None:  # type: ignore[no-untyped-def]
    """Stand-in for explore: k chains per item; item i's chains are right, or wrong from
    step 1, 2 or 3, varying with the sample so the answers disagree on some items."""
    from engine.paradigms.blocks import Checked, store_checked
    from engine.paradigms.elad.stages import steps_of, student_messages
    from engine.tasks import get_task

    checker = get_task("gsm8k")
    for unit in ctx.pending(items, key=lambda it: f"r{r}:explore:{it.item_hash}"):
        i = unit.value.id
        with ctx.commit(unit):
            for j in range(k):
                wrong_at = None if (i + j * (i % 3)) % 4 == 0 else (i + j) % 3 + 1
                text = scripted_chain(unit.value.data, wrong_at, seed=i * 10 + j)
                v = checker.verify(text, unit.value.data)
                store_checked(ctx, unit.value, Checked(text, 40, "stop", v.passed, v.predicted,
                                                       v.as_details()),
                              role="explore", sample_index=j, evaluate=False,
                              prompt=student_messages(ctx, unit.value)[-1]["content"],
                              steps=steps_of(text), parsed={"round": r, "read_tokens": 30})


def patch_explore(monkeypatch=None) -> None:  # type: ignore[no-untyped-def]
    from engine.paradigms.elad import stages

    if monkeypatch is None:
        stages.explore = scripted_explore  # type: ignore[assignment]
    else:
        monkeypatch.setattr(stages, "explore", scripted_explore)
