"""Parsers and text helpers for REER: the thinking draft, its segments, edits.

- ``parse_think``: the thinking z inside the draft's ``<think>...</think>``;
- ``split_segments``: z's segments by the paper's rule: split on blank lines, never inside
  a ``\\[...\\]`` display block; a piece under ``min_chars`` characters merges into the
  next; if that leaves one segment, split on single newlines instead;
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


def _blocks(text: str, separator: str) -> list[str]:
    """Split on ``separator`` (a regex), never inside ``\\[...\\]``."""
    protected: dict[str, str] = {}

    def hide(match: re.Match[str]) -> str:
        key = f"\x00{len(protected)}\x00"
        protected[key] = match.group(0)
        return key

    hidden = re.sub(r"\\\[.*?\\\]", hide, text, flags=re.DOTALL)
    pieces = [p for p in re.split(separator, hidden) if p.strip()]
    out = []
    for piece in pieces:
        for key, value in protected.items():
            piece = piece.replace(key, value)
        out.append(piece.strip())
    return out


def _merge(pieces: list[str], min_chars: int, joiner: str) -> list[str]:
    merged: list[str] = []
    carry = ""
    for piece in pieces:
        piece = f"{carry}{joiner}{piece}" if carry else piece
        if len(piece) < min_chars:
            carry = piece
            continue
        merged.append(piece)
        carry = ""
    if carry:  # a short last piece joins the one before it
        if merged:
            merged[-1] = f"{merged[-1]}{joiner}{carry}"
        else:
            merged.append(carry)
    return merged


def split_segments(thinking: str, min_chars: int = MIN_SEGMENT_CHARS) -> list[str]:
    segments = _merge(_blocks(thinking, r"\n\s*\n"), min_chars, "\n\n")
    if len(segments) <= 1:
        segments = _merge(_blocks(thinking, r"\n"), min_chars, "\n")
    return segments


def mark_segment(segments: list[str], index: int) -> str:
    """The thinking with segment ``index`` marked for an edit."""
    return "\n\n".join(f"<replace>{s}</replace>" if i == index else s
                       for i, s in enumerate(segments))


def parse_refine(text: str) -> str | None:
    """The rewritten segment: the last complete ``<refine>...</refine>``, or None."""
    found = _REFINE.findall(text)
    return found[-1].strip() if found and found[-1].strip() else None
