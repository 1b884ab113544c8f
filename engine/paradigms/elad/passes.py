"""The score stage's student passes: continue a chain cut before each of its steps.

For a chain of n steps the answers with step i dropped (prefix 1..i-1) and with it kept
(prefix 1..i) are needed for every i; the prefix that keeps step i is the one that drops
step i+1, so ``batched`` mode generates each of the n+1 distinct prefixes once, for many
chains together (left-padded batches, one ``generate`` per batch, greedy), while the
one-per-pass mode generates 2n passes one at a time (the benchmark's baseline). Both count
the tokens the student reads (prompt + prefix) and writes, the "extra student runs" that
the notes want ELAD's gain divided by.

Knows the student's sampling function and a task's answer reader; nothing of the store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from engine.paradigms.elad.scoring import cut_points
from engine.student.chat import Prompt


@dataclass(frozen=True)
class CutAnswers:
    """One chain's answers without/with each step, and the tokens the passes cost."""

    without: list[str | None]
    with_: list[str | None]
    read_tokens: int
    gen_tokens: int
    generations: int


def prefix_text(steps: Sequence[str], kept: int) -> str:
    return "".join(f"Step {k}: {t}\n" for k, t in enumerate(steps[:kept], start=1))


def continue_cuts(model: Any, tokenizer: Any, heads: Sequence[str],
                  chains: Sequence[Sequence[str]], answer_of: Callable[[int, str], str | None],
                  *, max_new_tokens: int, batch_size: int, batched: bool = True,
                  seed: int = 0) -> list[CutAnswers]:
    """For chain c (its rendered prompt ``heads[c]`` and steps ``chains[c]``): the answer
    (``answer_of(c, prefix + continuation)``) after each cut. ``batched``: each distinct
    prefix once, ``batch_size`` generations together; else 2n single generations."""
    from engine.student import sample
    from engine.student.chat import prompt_ids

    jobs: list[tuple[int, int]] = []  # (chain, kept steps)
    for c, steps in enumerate(chains):
        if batched and steps:
            jobs += [(c, j) for j in cut_points(len(steps))]
        else:  # pass i: without step i (i-1 kept), then with it (i kept)
            jobs += [(c, j) for i in range(1, len(steps) + 1) for j in (i - 1, i)]
    prompts: list[Prompt] = [heads[c] + prefix_text(chains[c], j) for c, j in jobs]
    outs = sample(model, tokenizer, prompts, k=1, temperature=0.0,
                  max_new_tokens=max_new_tokens, seed=seed,
                  batch_size=batch_size if batched else 1) if prompts else []
    answers: dict[tuple[int, int], list[str | None]] = {}
    read = [0] * len(chains)
    gen = [0] * len(chains)
    count = [0] * len(chains)
    for (c, j), prompt, out in zip(jobs, prompts, outs, strict=True):
        answers.setdefault((c, j), []).append(
            answer_of(c, prefix_text(chains[c], j) + out[0].text))
        read[c] += len(prompt_ids(tokenizer, prompt))
        gen[c] += out[0].tokens
        count[c] += 1
    result = []
    for c, steps in enumerate(chains):
        n = len(steps)
        if batched:
            without = [answers[(c, i - 1)][0] for i in range(1, n + 1)]
            with_ = [answers[(c, i)][0] for i in range(1, n + 1)]
        else:  # prefix j was generated for pass j+1 (without) and pass j (with)
            without = [answers[(c, i - 1)][-1 if i > 1 else 0] for i in range(1, n + 1)]
            with_ = [answers[(c, i)][0] for i in range(1, n + 1)]
        result.append(CutAnswers(without, with_, read[c], gen[c], count[c]))
    return result
