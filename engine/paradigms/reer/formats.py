"""Parsers and text helpers for REER: the thinking draft, its segments, edits.

- ``parse_think``: the thinking z inside the draft's ``<think>...</think>``;
- ``split_segments`` / ``segment_spans``: z's segments by the paper's rule: split on blank
  lines, never inside a LaTeX display block (``\\[...\\]``, ``$$...$$``,
  ``\\begin{env}...\\end{env}``); a piece under ``min_chars`` characters merges into the
  next (a short last piece into the one before); if that leaves one segment, split on
  single newlines instead. Segments are exact pieces of the text;
- ``split_answer``: the reference answer y as (first segment, rest) for the scorer;
- ``mark_segment``: z with segment i wrapped in ``<replace>...</replace>`` for an edit;
- ``parse_refine``: the rewrite in an edit's last ``<refine>...</refine>``.

Text only: no store, no model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_THINK = re.compile(r"<think>(.*?)(</think>|$)", re.DOTALL | re.IGNORECASE)
_REFINE = re.compile(r"<refine>(.*?)</refine>", re.DOTALL | re.IGNORECASE)
MIN_SEGMENT_CHARS = 100


@dataclass(frozen=True)
class Thinking:
    """The draft's thinking; ``finished`` is False when ``</think>`` never came (cut off)."""

    text: str
    finished: bool
    reason: str  # '' when usable


def parse_think(text: str) -> Thinking:
    found = _THINK.search(text)
    if found is None:
        stripped = text.strip()
        if stripped.lower().startswith("alright"):  # the opener without the tag
            return Thinking(stripped, True, "")
        return Thinking("", False, "no <think>...</think> block")
    body = found.group(1).strip()
    if not body:
        return Thinking("", bool(found.group(2)), "the <think> block is empty")
    if not found.group(2):
        return Thinking(body, False, "the thinking never finishes (no </think>)")
    return Thinking(body, True, "")


# LaTeX display blocks are never split: \[...\], $$...$$ and \begin{env}...\end{env}.
_DISPLAY = re.compile(r"\\\[.*?\\\]|\$\$.*?\$\$|\\begin\{([^}]*)\}.*?\\end\{\1\}", re.DOTALL)


def _pieces(text: str, separator: str) -> list[tuple[int, int]]:
    """Spans of ``text`` between matches of ``separator`` (a regex) that lie outside every
    display block, each trimmed of surrounding whitespace; empty pieces dropped."""
    shielded = [m.span() for m in _DISPLAY.finditer(text)]
    cuts = [m.span() for m in re.finditer(separator, text)
            if not any(a < m.start() < b or a < m.end() < b for a, b in shielded)]
    spans, start = [], 0
    for lo, hi in [*cuts, (len(text), len(text))]:
        piece = text[start:lo]
        if piece.strip():
            left = start + len(piece) - len(piece.lstrip())
            spans.append((left, left + len(piece.strip())))
        start = hi
    return spans


def _merge(spans: list[tuple[int, int]], min_chars: int) -> list[tuple[int, int]]:
    """A piece under ``min_chars`` merges into the next one (a short last piece into the
    one before it). Merged spans run over the original text, separators included."""
    merged: list[tuple[int, int]] = []
    carry: int | None = None
    for lo, hi in spans:
        lo = lo if carry is None else carry
        if hi - lo < min_chars:
            carry = lo
            continue
        merged.append((lo, hi))
        carry = None
    if carry is not None:
        if merged:
            merged[-1] = (merged[-1][0], spans[-1][1])
        else:
            merged.append((carry, spans[-1][1]))
    return merged


def segment_spans(text: str, min_chars: int = MIN_SEGMENT_CHARS) -> list[tuple[int, int]]:
    """(start, end) of each segment of ``text`` (the paper's rule, see the module doc)."""
    spans = _merge(_pieces(text, r"\n[ \t]*\n\s*"), min_chars)
    if len(spans) <= 1:
        spans = _merge(_pieces(text, r"\n"), min_chars)
    return spans


def split_segments(thinking: str, min_chars: int = MIN_SEGMENT_CHARS) -> list[str]:
    """The segments as text: exact pieces of ``thinking`` (inner separators kept)."""
    return [thinking[a:b] for a, b in segment_spans(thinking, min_chars)]


def split_answer(answer: str, min_chars: int = MIN_SEGMENT_CHARS) -> tuple[str, str]:
    """(head, rest) with head + rest == answer: the head is the first segment, which the
    scorer reads as context; the rest (from the separator after it) is what it scores.
    An answer of one segment has an empty head: all of it is scored."""
    spans = segment_spans(answer, min_chars)
    if len(spans) <= 1:
        return "", answer
    return answer[:spans[0][1]], answer[spans[0][1]:]


def join_segments(segments: list[str]) -> str:
    """The thinking made of its segments (blank lines between them)."""
    return "\n\n".join(s.strip() for s in segments)


def mark_segment(segments: list[str], index: int) -> str:
    """The thinking with segment ``index`` marked for an edit."""
    return "\n\n".join(f"<replace>{s}</replace>" if i == index else s
                       for i, s in enumerate(segments))


def parse_refine(text: str) -> str | None:
    """The rewritten segment: the last complete ``<refine>...</refine>``, or None."""
    found = _REFINE.findall(text)
    return found[-1].strip() if found and found[-1].strip() else None
