"""Does the thinking z give the answer y away? Overlap measures of z against y, and repeats.

- ``leakage(z, y)``: the share of z's word n-grams found in y for n = 3..8, ROUGE-L F1 of z
  against y, and the longest run of words z copies from y (the paper reports none of
  these; the user's notes ask for them);
- ``copied_spans(z, y, min_words)``: every maximal run of at least ``min_words`` words that
  z shares with y, as character spans in both texts (the GUI highlights them);
- ``repeat_share(text, n)``: the share of a text's word n-grams that repeat an earlier one
  (a looping generation scores high).

Words are lower-cased ``\\w+`` tokens, as in ``engine.tasks.openended``. Text only.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from engine.tasks.openended import ngram_overlap, rouge_l

NGRAM_SIZES = (3, 4, 5, 6, 7, 8)
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class Leakage:
    ngram: dict[int, float]  # n -> share of z's n-grams that occur in y
    rouge_l: float
    copied_words: int  # the longest run of words z copies from y

    def as_dict(self) -> dict[str, float]:
        return {**{f"ngram_{n}": v for n, v in self.ngram.items()}, "rouge_l": self.rouge_l,
                "copied_words": float(self.copied_words)}


@dataclass(frozen=True)
class Span:
    """A run of ``words`` words that z shares with y: [z_start, z_end) in z, [y_start,
    y_end) in y (character offsets)."""

    z_start: int
    z_end: int
    y_start: int
    y_end: int
    words: int


def _words(text: str) -> list[tuple[str, int, int]]:
    return [(m.group(0).lower(), m.start(), m.end()) for m in _WORD.finditer(text)]


def _runs(z: list[str], y: list[str], min_words: int) -> list[tuple[int, int, int]]:
    """Maximal common runs (z index, y index, length) of at least ``min_words`` words,
    found through y's ``min_words``-grams, so long texts stay fast."""
    k = max(1, min_words)
    where: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for j in range(len(y) - k + 1):
        where[tuple(y[j:j + k])].append(j)
    found = []
    for i in range(len(z) - k + 1):
        for j in where.get(tuple(z[i:i + k]), ()):
            if i > 0 and j > 0 and z[i - 1] == y[j - 1]:
                continue  # not maximal: the run started one word earlier
            n = k
            while i + n < len(z) and j + n < len(y) and z[i + n] == y[j + n]:
                n += 1
            found.append((i, j, n))
    return found


def copied_spans(z: str, y: str, min_words: int = 6) -> list[Span]:
    """Every maximal run of >= ``min_words`` words that z shares with y, longest first."""
    zw, yw = _words(z), _words(y)
    runs = _runs([w for w, _, _ in zw], [w for w, _, _ in yw], min_words)
    spans = [Span(zw[i][1], zw[i + n - 1][2], yw[j][1], yw[j + n - 1][2], n) for i, j, n in runs]
    return sorted(spans, key=lambda s: (-s.words, s.z_start))


def longest_copy(z: str, y: str) -> int:
    """The longest run of words z shares with y (0 when they share no word)."""
    zw, yw = [w for w, _, _ in _words(z)], [w for w, _, _ in _words(y)]
    return max((n for _, _, n in _runs(zw, yw, 1)), default=0)


def leakage(z: str, y: str) -> Leakage:
    return Leakage({n: ngram_overlap(z, y, n) for n in NGRAM_SIZES}, rouge_l(z, y),
                   longest_copy(z, y))


def repeat_share(text: str, n: int = 5) -> float:
    """Share of the word n-grams of ``text`` that occurred earlier in it (0 for short text)."""
    words = [w for w, _, _ in _words(text)]
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    seen: set[tuple[str, ...]] = set()
    repeats = 0
    for g in grams:
        repeats += g in seen
        seen.add(g)
    return repeats / len(grams)
