"""REER's score of a thinking z: how predictable it makes the reference answer y.

The scoring context is the task alone (the student's chat prompt, no answer), then the
layout up to the answer (by default ``<think>\\nz\\n</think>\\n<answer>\\n``), then y's
first segment, all as context; the score is the mean negative log-prob of the rest of
y's tokens, each log-prob clipped to [-clip, 0] (PAPERS.md section 5; lower is better).
An answer of a single segment is scored whole. The forward passes are batched
(``engine.student.score``). Also the answer part of a student's output in the layout.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.paradigms.reer.formats import split_answer

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Scored:
    score: float  # mean clipped negative log-prob of the scored part of y (lower is better)
    tokens: int  # tokens scored
    input_tokens: int  # tokens in the forward pass: the scoring cost


def before_answer(layout: str, thinking: str) -> str:
    """The layout's text up to where the answer starts, with the thinking filled in."""
    return layout.split("{answer}", 1)[0].replace("{thinking}", thinking)


def completion(layout: str, thinking: str, answer: str) -> str:
    """The whole assistant text: what the student is trained to write."""
    return layout.replace("{thinking}", thinking).replace("{answer}", answer)


def score_thinkings(model: Any, tokenizer: Any, prompts: Sequence[Messages],
                    thinkings: Sequence[str], answers: Sequence[str], *, layout: str,
                    clip: float = 2.0, batch_size: int = 16,
                    min_segment_chars: int = 100) -> list[Scored]:
    """One ``Scored`` per (prompt, thinking, answer), in order, in batched forward passes."""
    from engine.student import score

    heads, rests = zip(*(split_answer(a, min_segment_chars) for a in answers), strict=True) \
        if answers else ((), ())
    contexts = [before_answer(layout, z) + head for z, head in zip(thinkings, heads, strict=True)]
    results = score(model, tokenizer, list(prompts), list(rests), clip=(-clip, 0.0),
                    batch_size=batch_size, continuations=contexts)
    return [Scored(-r.mean_logprob, r.n_tokens, r.n_input) for r in results]


_ANSWER_TAGS = re.compile(r"</?answer>", re.IGNORECASE)


def answer_part(output: str) -> str:
    """The answer in a student's output: after ``</think>`` (nothing if the thinking never
    closed), without ``<answer>`` tags; an output with no ``<think>`` is all answer."""
    if "</think>" in output:
        output = output.rsplit("</think>", 1)[1]
    elif "<think>" in output:
        return ""
    return _ANSWER_TAGS.sub("", output).strip()
