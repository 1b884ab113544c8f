"""Open-ended generation: reference overlap (ROUGE-L, n-gram) and an LLM judge.

The judge is any callable ``ask(messages) -> str`` (OpenAI-style chat messages), or a
batch version ``ask_many(list_of_messages) -> list[str]``, so the teacher client, a local
model or a test stub all fit; nothing here imports a client. Two judge modes:

* rubric score: the judge rates one answer 1-10 against a rubric (and the reference if
  there is one); the reply must contain ``Score: N``;
* pairwise: the judge picks A or B; every pair is asked twice with the order swapped, and
  an answer wins only if it wins in both orders (one win each way is a tie), which
  cancels the judge's position bias (Zheng et al. 2023, MT-Bench).

Overlap numbers also serve the reer leakage check (does the thinking contain the answer).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from engine.metrics import Estimate, mean_ci
from engine.tasks.base import Task, Verdict

Messages = list[dict[str, str]]
Ask = Callable[[Messages], str]
AskMany = Callable[[list[Messages]], list[str]]

_TOKEN = re.compile(r"\w+", re.UNICODE)


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _lcs(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence, bit-parallel over the shorter side
    (Hyyro 2004): one big-integer step per token of the longer side, so a 100k-token
    answer against a reference takes a fraction of a second, not minutes."""
    if len(a) < len(b):
        a, b = b, a
    masks: dict[str, int] = {}
    for j, y in enumerate(b):
        masks[y] = masks.get(y, 0) | (1 << j)
    full = (1 << len(b)) - 1
    v = full
    for x in a:
        u = v & masks.get(x, 0)
        v = ((v + u) | (v - u)) & full
    return len(b) - v.bit_count()


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 over lower-cased word tokens (0 when either side is empty)."""
    p, r = tokens(prediction), tokens(reference)
    if not p or not r:
        return 0.0
    lcs = _lcs(p, r)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(p), lcs / len(r)
    return 2 * precision * recall / (precision + recall)


def ngram_overlap(text: str, reference: str, n: int = 4) -> float:
    """Share of ``text``'s word n-grams that also occur in ``reference`` (counts clipped)."""
    t, r = tokens(text), tokens(reference)
    grams = Counter(tuple(t[i:i + n]) for i in range(len(t) - n + 1))
    ref = Counter(tuple(r[i:i + n]) for i in range(len(r) - n + 1))
    total = sum(grams.values())
    if total == 0:
        return 0.0
    return sum(min(c, ref[g]) for g, c in grams.items()) / total


class OpenTask(Task):
    """Graded by ROUGE-L F1 against ``reference``; passes at ``threshold``."""

    kind: ClassVar[str] = "open"
    FIELDS: ClassVar[tuple[str, ...]] = ("reference",)

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold

    def extract(self, text: str) -> str | None:
        answer = re.sub(r"<think>.*?</think>", "", text, flags=re.DOTALL).strip()
        return answer or None

    def verify(self, prediction: str, fields: Mapping[str, Any]) -> Verdict:
        reference = str(fields["reference"])
        answer = self.extract(prediction) or ""
        score = rouge_l(answer, reference)
        return Verdict(score >= self.threshold, answer, reference,
                       {"rouge_l": score, "ngram_overlap_2": ngram_overlap(answer, reference, 2),
                        "ngram_overlap_4": ngram_overlap(answer, reference, 4)}, score=score)


# -- LLM judge ----------------------------------------------------------------------------

DEFAULT_RUBRIC = (
    "Rate the answer from 1 (useless) to 10 (excellent) for: correctness and faithfulness to "
    "the request; completeness; clarity and organisation; appropriate length.")

_SCORE = re.compile(r"score\s*[:=]?\s*\**\s*(\d+(?:\.\d+)?)\s*(?:/\s*10)?", re.IGNORECASE)
_VERDICT = re.compile(r"\[\[\s*(A|B|tie|C)\s*\]\]", re.IGNORECASE)


def batched(ask: Ask) -> AskMany:
    """A one-at-a-time ``ask`` as the batch form the judge functions take."""
    return lambda many: [ask(m) for m in many]


def rubric_messages(question: str, answer: str, reference: str | None = None,
                    rubric: str = DEFAULT_RUBRIC) -> Messages:
    ref = f"\n\n[Reference answer]\n{reference}" if reference else ""
    return [
        {"role": "system", "content": "You are a strict, impartial judge of answers."},
        {"role": "user", "content": (
            f"{rubric}\n\n[Request]\n{question}{ref}\n\n[Answer to rate]\n{answer}\n\n"
            "Explain briefly, then end with a line exactly like: Score: N")},
    ]


def parse_score(reply: str, scale: int = 10) -> float | None:
    """The last ``Score: N`` in a judge reply, if within 1..scale."""
    found = [float(s) for s in _SCORE.findall(reply)]
    found = [s for s in found if 1 <= s <= scale]
    return found[-1] if found else None


def rubric_scores(ask_many: AskMany, rows: Sequence[tuple[str, str, str | None]],
                  rubric: str = DEFAULT_RUBRIC) -> list[float | None]:
    """Judge scores (1-10, None when the reply has none) for (question, answer, reference)."""
    replies = ask_many([rubric_messages(q, a, r, rubric) for q, a, r in rows])
    return [parse_score(reply) for reply in replies]


def pairwise_messages(question: str, first: str, second: str) -> Messages:
    return [
        {"role": "system", "content": "You are a strict, impartial judge. Ignore the order in "
         "which the answers are shown and their length; judge helpfulness and correctness."},
        {"role": "user", "content": (
            f"[Request]\n{question}\n\n[Answer A]\n{first}\n\n[Answer B]\n{second}\n\n"
            "Which answer is better? Explain briefly, then end with [[A]], [[B]] or [[tie]].")},
    ]


def parse_preference(reply: str) -> str | None:
    """``"A"``, ``"B"`` or ``"tie"`` from a judge reply's last ``[[...]]``."""
    found = _VERDICT.findall(reply)
    if not found:
        return None
    last = found[-1].upper()
    return "tie" if last in ("TIE", "C") else last


@dataclass(frozen=True)
class PairOutcome:
    """One pair judged in both orders; ``score``: 1 = a wins, 0.5 = tie, 0 = b wins."""

    score: float
    a_first: str | None  # verdict with a shown as A
    b_first: str | None  # verdict with b shown as A (already mapped back: "A" means a)
    consistent: bool  # both orders agree


def _combine(first: str | None, second: str | None) -> PairOutcome:
    # first: a shown as A; second: b shown as A, so map its letters back to a/b terms
    back = {"A": "B", "B": "A", "tie": "tie", None: None}[second]
    # an order with no readable verdict counts as a tie: a lone win is not a win
    wins = {"A": 1.0, "tie": 0.5, "B": 0.0, None: 0.5}
    total = wins[first] + wins[back]
    # a wins only if it wins in both orders; one win each way is a tie
    score = 1.0 if total == 2.0 else 0.0 if total == 0.0 else 0.5
    return PairOutcome(score, first, back, first is not None and first == back)


def pair_outcome(a_first_reply: str, b_first_reply: str) -> PairOutcome:
    """One pair's outcome from the judge's two replies: with a shown as A, then b as A
    (for callers that send the two requests themselves, e.g. in committed chunks)."""
    return _combine(parse_preference(a_first_reply), parse_preference(b_first_reply))


def win_rate(outcomes: Sequence[PairOutcome], confidence: float = 0.95) -> Estimate:
    """Mean pairwise score of a over b (ties count half) with a bootstrap interval."""
    return mean_ci([o.score for o in outcomes], confidence)


def pairwise_many(ask_many: AskMany,
                  rows: Sequence[tuple[str, str, str]]) -> list[PairOutcome]:
    """Judge (question, a, b) pairs, each in both orders (2 judge calls a pair, one batch)."""
    msgs = [pairwise_messages(q, a, b) for q, a, b in rows]
    msgs += [pairwise_messages(q, b, a) for q, a, b in rows]
    verdicts = [parse_preference(r) for r in ask_many(msgs)]
    n = len(rows)
    return [_combine(verdicts[i], verdicts[n + i]) for i in range(n)]


def pairwise(ask: Ask, question: str, a: str, b: str) -> PairOutcome:
    return pairwise_many(batched(ask), [(question, a, b)])[0]


def rubric_score(ask: Ask, question: str, answer: str, reference: str | None = None,
                 rubric: str = DEFAULT_RUBRIC) -> float | None:
    return rubric_scores(batched(ask), [(question, answer, reference)], rubric)[0]
