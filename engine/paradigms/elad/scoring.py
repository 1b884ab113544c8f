"""ELAD's uncertainty scores and the four selections, as plain functions of answers.

- inter-explanation uncertainty: the Shannon entropy of the final answers of the k chains
  (``answer_entropy``; divided by ln k so it lies in [0, 1] like the intra term; an answer
  that could not be read counts as one more answer, "<none>");
- intra-explanation uncertainty (``intra_score``): for each step i of the majority chain,
  the answer with the chain cut before step i (â_i) and with step i kept (a_i);
  H_reason = (1/n)·Σ 1[â_i = a_i] (direction ``agree``, the paper's formula) or one minus
  it (``disagree``). The prefix that keeps step i is the one that drops step i+1, so n
  steps need n+1 continuations, not 2n (``cut_points``);
- ``combined``: w·H_cons + (1−w)·H_reason; a chain with no steps has no intra term, so it
  is scored by w·H_cons alone (and flagged by the caller);
- ``select``: top-B by the method's score among the candidates, ties broken by a seeded
  hash of the item key (not by position, so a tie-heavy score such as an entropy of 0
  for most items does not fall back to data order); ``random`` is a seeded shuffle.

Knows nothing of models, teachers or the store.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

NONE = "<none>"


def norm_answer(answer: object) -> str:
    """One answer as a key for counting ("<none>" when nothing was read)."""
    text = "" if answer is None else "".join(str(answer).split())
    return text or NONE


def answer_entropy(answers: Sequence[object], normalise: bool = True) -> float:
    """Shannon entropy (nats) of the answers' distribution; / ln(k) when ``normalise``."""
    k = len(answers)
    if k < 2:
        return 0.0
    counts = Counter(norm_answer(a) for a in answers)
    h = -sum(c / k * math.log(c / k) for c in counts.values())
    return h / math.log(k) if normalise else h


def majority(answers: Sequence[object]) -> tuple[int, float]:
    """The index of the first chain with the most common answer, and that answer's share
    (a tie goes to the answer met first)."""
    if not answers:
        return -1, 0.0
    keys = [norm_answer(a) for a in answers]
    counts = Counter(keys)
    best = max(counts.values())
    index = next(i for i, key in enumerate(keys) if counts[key] == best)
    return index, best / len(keys)


def least_confidence(answers: Sequence[object]) -> float:
    """1 − the majority answer's share."""
    return 1.0 - majority(answers)[1] if answers else 0.0


def cut_points(n_steps: int) -> list[int]:
    """The prefixes to continue, as numbers of kept steps: 0 (all dropped) .. n."""
    return list(range(n_steps + 1))


@dataclass(frozen=True)
class Intra:
    """Per step i (1-based at index i-1): the answer without step i, with it, and whether
    they agree; ``h_reason`` as the direction asks (None: a chain with no steps)."""

    without: list[str]
    with_: list[str]
    agreed: list[bool]
    h_reason: float | None


def intra_score(without: Sequence[object], with_: Sequence[object],
                direction: str = "agree") -> Intra:
    """H_reason from, per step i, the answer with the chain cut before step i
    (``without[i-1]``) and with step i kept (``with_[i-1]``)."""
    a = [norm_answer(x) for x in without]
    b = [norm_answer(x) for x in with_]
    if len(a) != len(b):
        raise ValueError(f"{len(a)} answers without a step but {len(b)} with it")
    agreed = [x == y for x, y in zip(a, b, strict=True)]
    if not agreed:
        return Intra([], [], [], None)
    share = sum(agreed) / len(agreed)
    return Intra(a, b, agreed, share if direction == "agree" else 1.0 - share)


def combined(h_cons: float, h_reason: float | None, weight: float) -> float:
    """w·H_cons + (1−w)·H_reason (no intra term: w·H_cons)."""
    return weight * h_cons + (1.0 - weight) * (h_reason or 0.0)


def _tiebreak(key: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def select(scores: dict[str, float], budget: int, *, method: str, seed: int) -> list[str]:
    """The B keys to revise: the highest scores (ties by a seeded hash), or a seeded
    random draw for ``random`` (``scores`` then only names the candidates)."""
    if method == "random":
        ranked = sorted(scores, key=lambda key: _tiebreak(key, seed))
    else:
        ranked = sorted(scores, key=lambda key: (-scores[key], _tiebreak(key, seed)))
    return ranked[:budget]
