"""Steps of a reasoning trace: splitting, tagged formats, and step-by-step alignment.

Paradigms store each trace as steps; the GUI lays two or three traces side by side,
aligned step against step. This module does the text work for both and knows nothing
of the store or of Qt:

- ``split_steps``: a trace's text into steps: SuperCorrect XML tags, "Step N" markers,
  markdown sections (explain editorials), paragraphs (REER segments) or lines. A fenced
  code block (```` ``` ```` ... ```` ``` ````) is never cut: it is one step of kind
  ``code`` (in paragraphs and lines) or stays whole inside its step or section, and a
  ``# comment`` or ``Step 1`` inside it is not taken for a heading or a step mark.
- ``parse_tags``: the inner text of tags like ``<Cause>`` or ``<Answer>``.
- ``chain_steps``: a "Step k: ..." chain as its steps and its final "The answer is" line.
- ``align``: global alignment (Needleman-Wunsch) of two step lists by word overlap, so
  inserted or dropped steps line up with gaps rather than shifting everything after them.
- ``inline_diff``: word-level differences inside two aligned steps.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass

_XML_BLOCK = re.compile(r"<(Step\d+|Key|Generalized|Answer|Cause|Correction)>(.*?)</\1>",
                        re.DOTALL | re.IGNORECASE)
_STEP_MARK = re.compile(r"^\s*(?:\*\*)?step\s*(\d+)\s*[:.)]", re.IGNORECASE | re.MULTILINE)
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_WORD = re.compile(r"\w+")
# A fenced code block: an opening fence of 3+ backticks or tildes (with an optional info
# string) up to the same fence, or to the end of the text if it is never closed.
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})[^\n]*\n.*?(?:^[ \t]{0,3}\1[ \t]*$|\Z)",
                    re.DOTALL | re.MULTILINE)
# Words that say nothing about what a step does; without them two unrelated steps score ~0.
_STOP = frozenset([
    "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "has", "have", "in", "is",
    "it", "its", "of", "on", "or", "so", "that", "the", "then", "this", "to", "was", "we", "with",
])


@dataclass(frozen=True)
class Piece:
    """One step of a trace: its kind (step, key, generalized, answer, section name...) and text."""

    kind: str
    text: str


def _xml(text: str) -> list[Piece]:
    pieces = []
    for match in _XML_BLOCK.finditer(text):
        tag = match.group(1)
        kind = "step" if tag.lower().startswith("step") else tag.lower()
        inner = match.group(2).strip()
        # a <Key> inside a step stays in that step's text; it is also listed on its own
        pieces.append(Piece(kind, inner))
        if kind == "step":
            pieces += [Piece("key", k.strip()) for k in
                       re.findall(r"<Key>(.*?)</Key>", inner, re.DOTALL | re.IGNORECASE)]
    return pieces


def fenced_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every fenced code block in ``text``."""
    return [m.span() for m in _FENCE.finditer(text)]


def _outside(matches: list[re.Match[str]], spans: list[tuple[int, int]]) -> list[re.Match[str]]:
    """The matches that do not start inside a fenced code block."""
    return [m for m in matches if not any(a <= m.start() < b for a, b in spans)]


def _blocks(text: str, *, by_line: bool) -> list[Piece]:
    """Paragraphs (or lines) as steps, each fenced code block as one ``code`` step."""
    pieces: list[Piece] = []
    at = 0
    for start, end in [*fenced_spans(text), (len(text), len(text))]:
        prose = text[at:start]
        parts = prose.splitlines() if by_line else re.split(r"\n\s*\n", prose)
        pieces += [Piece("step", p.strip()) for p in parts if p.strip()]
        if end > start:
            pieces.append(Piece("code", text[start:end].strip()))
        at = end
    return pieces


def _numbered(text: str) -> list[Piece]:
    marks = _outside(list(_STEP_MARK.finditer(text)), fenced_spans(text))
    pieces = []
    head = text[: marks[0].start()].strip()
    if head:
        pieces.append(Piece("preamble", head))
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        pieces.append(Piece("step", text[mark.start():end].strip()))
    return pieces


def _sections(text: str) -> list[Piece]:
    heads = _outside(list(_HEADING.finditer(text)), fenced_spans(text))
    pieces = []
    head = text[: heads[0].start()].strip()
    if head:
        pieces.append(Piece("preamble", head))
    for i, h in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
        body = text[h.end():end].strip()
        pieces.append(Piece(section_kind(h.group(1)), body))
    return pieces


def section_kind(title: str) -> str:
    """A heading as a step kind: 'Key Insights' -> 'key_insights'."""
    return re.sub(r"[^a-z0-9]+", "_", title.lower().strip("*: ")).strip("_") or "section"


def split_steps(text: str, style: str = "auto") -> list[Piece]:
    """Split a trace into steps. ``style``: auto, xml, numbered, sections, paragraphs, lines."""
    spans = fenced_spans(text)
    marks = _outside(list(_STEP_MARK.finditer(text)), spans)
    heads = _outside(list(_HEADING.finditer(text)), spans)
    if style == "auto":
        if _XML_BLOCK.search(text):
            style = "xml"
        elif len(marks) >= 2:
            style = "numbered"
        elif len(heads) >= 2:
            style = "sections"
        elif re.search(r"\n\s*\n", text.strip()) or spans:
            style = "paragraphs"
        else:
            style = "lines"
    if style == "xml":
        return _xml(text)
    if style == "numbered":
        return _numbered(text) if marks else split_steps(text, "lines")
    if style == "sections":
        return _sections(text) if heads else split_steps(text, "paragraphs")
    if style == "paragraphs":
        return _blocks(text, by_line=False)
    if style == "lines":
        return _blocks(text, by_line=True)
    raise ValueError(f"unknown step style {style!r}: use auto, xml, numbered, sections, "
                     "paragraphs or lines")


# "The answer is N" at a line start or after a sentence ("... = 14. The answer is 14.")
_ANSWER_LINE = re.compile(r"(?:^|(?<=[.!?])[ \t]+)[ \t]*(?:\*\*)?(?:the\s+)?(?:final\s+)?"
                          r"answer\s+is\b.*$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class ChainSteps:
    """A numbered chain: each step's number and text (label dropped), and the answer line."""

    numbers: list[int]
    texts: list[str]
    answer_line: str | None


def chain_steps(text: str) -> ChainSteps:
    """Split a "Step 1: ... Step 2: ... The answer is N." chain.

    A step whose whole text is "The answer is N" (LEMA numbers it as a step) counts as the
    answer line, as does a last line starting "The answer is"; text before Step 1 and
    after the answer line is dropped."""
    numbers: list[int] = []
    texts: list[str] = []
    answer: str | None = None
    marks = list(_STEP_MARK.finditer(text))
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        body = text[mark.end():end].strip()
        found = _ANSWER_LINE.search(body)
        if found is not None:
            answer = found.group(0).strip()
            body = body[:found.start()].strip()
        if body:
            numbers.append(int(mark.group(1)))
            texts.append(body)
        if found is not None:
            break
    if answer is None and not marks:
        lines = _ANSWER_LINE.findall(text)
        answer = lines[-1].strip() if lines else None
    return ChainSteps(numbers, texts, answer)


def parse_tags(text: str, *tags: str) -> dict[str, str]:
    """Inner text of the last occurrence of each tag present, e.g. parse_tags(t, "Answer")."""
    found: dict[str, str] = {}
    for tag in tags:
        matches = re.findall(rf"<{tag}>(.*?)</{tag}>", text, re.DOTALL | re.IGNORECASE)
        if matches:
            found[tag] = matches[-1].strip()
    return found


def _bag(text: str) -> Counter[str]:
    return Counter(w for w in (m.lower() for m in _WORD.findall(text)) if w not in _STOP)


def similarity(a: str, b: str) -> float:
    """Word-multiset overlap in [0, 1] (weighted Jaccard): cheap enough for 50x50 in ms."""
    return _similarity(_bag(a), _bag(b))


def _similarity(ca: Counter[str], cb: Counter[str], size_a: int | None = None,
                size_b: int | None = None) -> float:
    if not ca and not cb:
        return 1.0
    if len(ca) > len(cb):
        ca, cb, size_a, size_b = cb, ca, size_b, size_a
    # |A and B| by walking the smaller bag; |A or B| = |A| + |B| - |A and B| (no new Counters)
    inter = sum(min(n, cb[w]) for w, n in ca.items() if w in cb)
    union = (size_a if size_a is not None else ca.total()) + \
        (size_b if size_b is not None else cb.total()) - inter
    return inter / union if union else 0.0


@dataclass(frozen=True)
class Aligned:
    """One row of an alignment: indexes into the two step lists (None = gap) and similarity."""

    left: int | None
    right: int | None
    similarity: float


def align(left: list[str], right: list[str], *, gap: float = -0.05,
          min_match: float = 0.25) -> list[Aligned]:
    """Global alignment of two step lists maximising total similarity.

    A pair scores (similarity - min_match) and an unmatched step scores ``gap``, so two
    steps are paired only when their similarity exceeds min_match + 2 * gap = 0.15 (about
    one content word in seven shared); below that they get a row each.
    """
    bags_l = [_bag(t) for t in left]
    bags_r = [_bag(t) for t in right]
    n, m = len(left), len(right)
    sizes_l = [b.total() for b in bags_l]
    sizes_r = [b.total() for b in bags_r]
    sim = [[_similarity(bl, br, sl, sr) for br, sr in zip(bags_r, sizes_r, strict=True)]
           for bl, sl in zip(bags_l, sizes_l, strict=True)]
    score = [[0.0] * (m + 1) for _ in range(n + 1)]
    move = [[0] * (m + 1) for _ in range(n + 1)]  # 1 diagonal, 2 up (left only), 3 right only
    for i in range(1, n + 1):
        score[i][0], move[i][0] = score[i - 1][0] + gap, 2
    for j in range(1, m + 1):
        score[0][j], move[0][j] = score[0][j - 1] + gap, 3
    for i in range(1, n + 1):
        row, prev = score[i], score[i - 1]
        for j in range(1, m + 1):
            diag = prev[j - 1] + sim[i - 1][j - 1] - min_match
            up = prev[j] + gap
            lft = row[j - 1] + gap
            if diag >= up and diag >= lft:
                row[j], move[i][j] = diag, 1
            elif up > lft:  # on ties the left step comes first in the output
                row[j], move[i][j] = up, 2
            else:
                row[j], move[i][j] = lft, 3
    out: list[Aligned] = []
    i, j = n, m
    while i or j:
        step = move[i][j]
        if step == 1:
            out.append(Aligned(i - 1, j - 1, sim[i - 1][j - 1]))
            i, j = i - 1, j - 1
        elif step == 2:
            out.append(Aligned(i - 1, None, 0.0))
            i -= 1
        else:
            out.append(Aligned(None, j - 1, 0.0))
            j -= 1
    return out[::-1]


def inline_diff(a: str, b: str) -> list[tuple[str, str]]:
    """Word-level diff of two steps: a list of (op, text), op in equal/delete/insert."""
    wa, wb = re.findall(r"\S+\s*", a), re.findall(r"\S+\s*", b)
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, wa, wb, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("equal", "".join(wa[i1:i2])))
        else:
            if i2 > i1:
                out.append(("delete", "".join(wa[i1:i2])))
            if j2 > j1:
                out.append(("insert", "".join(wb[j1:j2])))
    return out


def first_wrong(verdicts: list[str]) -> int | None:
    """Index of the first step judged wrong, if any."""
    return next((i for i, v in enumerate(verdicts) if v == "wrong"), None)
