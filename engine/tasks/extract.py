"""Where a final answer sits in a reply: the last ``\\boxed{}`` and the "The answer is" line.

Pure string work; numbers in prose are read in :mod:`engine.tasks.numbers`, LaTeX answers
compared in :mod:`engine.tasks.mathanswer`.
"""

from __future__ import annotations

import re

_ANSWER_IS = re.compile(
    r"(?:the\s+)?(?:final\s+)?answer\s*(?:is|:|=)\s*:?\s*\**\s*([^\n]*)", re.IGNORECASE)


def answer_is(text: str) -> str | None:
    """What follows the last "The answer is" / "Answer:" (up to the end of that line)."""
    matches = list(_ANSWER_IS.finditer(text))
    if not matches:
        return None
    return matches[-1].group(1).strip().rstrip(".").strip() or None


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced; also
    ``\\boxed 5``."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = start + (6 if text.startswith("\\boxed", start) else 5)
    if i < len(text) and text[i] == " ":  # \boxed 5
        m = re.match(r"\s*([^\s$]+)", text[i:])
        return m.group(1) if m else None
    if i >= len(text) or text[i] != "{":
        return None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1:j]
    return None  # unbalanced: the output was cut off
