"""Pure helpers of the explain paradigm: editorial sections, their parsing, training weights.

Li & Mooney (2024): the Explainer's editorial has four sections. Each is stored as its own
step (kind = section key) so a recipe can train on, or feed the Coder, only some of them
(the paper's ablation: conceptual evolution helps solve@1 most, step-by-step solve@10).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from engine.steps import split_steps

# key -> (heading written in prompts and training targets, words that identify the heading)
SECTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "analysis": ("Problem Analysis", ("analysis", "complexity")),
    "conceptual_evolution": ("Conceptual Evolution", ("conceptual", "evolution")),
    "key_insights": ("Key Insights", ("insight",)),
    "step_by_step": ("Step-by-Step Algorithm", ("step", "algorithm")),
}

SECTION_INSTRUCTIONS = {
    "analysis": "Describe what the problem asks, the input sizes that matter, and the time "
                "and space complexity of the solution.",
    "conceptual_evolution": "Explain how one gets from a first, naive idea to the idea of "
                            "this solution.",
    "key_insights": "State the key observations that make this solution work.",
    "step_by_step": "Describe the solution's algorithm as numbered steps, detailed enough to "
                    "implement it.",
}


def section_key(heading_kind: str) -> str | None:
    """Map a parsed heading (e.g. 'key_insights', 'time_complexity_analysis') to a section."""
    for key, (_, words) in SECTIONS.items():
        if heading_kind == key or any(w in heading_kind for w in words):
            return key
    return None


@dataclass(frozen=True)
class Editorial:
    sections: dict[str, str]
    missing: list[str]

    @property
    def flag(self) -> str | None:
        if self.missing:
            names = ", ".join(SECTIONS[k][0] for k in self.missing)
            return f"missing section{'s' if len(self.missing) > 1 else ''}: {names}"
        return None


def parse_editorial(text: str) -> Editorial:
    """The four sections of an editorial written with markdown headings."""
    found: dict[str, str] = {}
    for piece in split_steps(text, "sections"):
        if piece.kind in ("step", "preamble"):  # text without a heading (fallback split)
            continue
        key = section_key(piece.kind)
        if key and key not in found and piece.text.strip():
            found[key] = piece.text.strip()
    return Editorial(found, [k for k in SECTIONS if k not in found])


def compose(sections: dict[str, str], keys: list[str]) -> str:
    """The training target / plan text from the chosen sections, with their headings."""
    return "\n\n".join(f"## {SECTIONS[k][0]}\n{sections[k]}" for k in keys if k in sections)


DEFAULT_DIFFICULTY = {"easy": 1.0, "medium": 0.75, "hard": 0.5}


def _when(value: Any) -> float | None:
    """A date (YYYY-MM[-DD]) as its ordinal, or a number as itself (e.g. LeetCode's
    question_id, which grows with time): only the order matters."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = re.match(r"(\d{4})-(\d{2})(?:-(\d{2}))?", str(value or ""))
    if not match:
        return None
    return float(date(int(match.group(1)), int(match.group(2)),
                      int(match.group(3) or 1)).toordinal())


def weights(records: list[dict[str, Any]], scheme: str, *, difficulty_field: str = "difficulty",
            date_field: str = "date", difficulty_weights: dict[str, float] | None = None,
            recency_floor: float = 0.5) -> list[tuple[float, str]]:
    """Per-example training weights and a reason each, normalised to mean 1.

    - uniform: 1 for all;
    - difficulty: easy 1.0, medium 0.75, hard 0.5 by default (the paper favours simpler);
    - recency: linear in the date's rank from ``recency_floor`` (oldest) to 1 (newest); the
      date field may hold a date or a number that grows with time (e.g. a question id);
    - difficulty_recency: the product. Items lacking a field get that factor 1.
    """
    table = {k.lower(): v for k, v in (difficulty_weights or DEFAULT_DIFFICULTY).items()}
    dates = [_when(r.get(date_field)) for r in records]
    known = sorted({d for d in dates if d is not None})
    rank = {d: i for i, d in enumerate(known)}
    raw: list[tuple[float, str]] = []
    for record, when in zip(records, dates, strict=True):
        w, why = 1.0, []
        if scheme in ("difficulty", "difficulty_recency"):
            level = str(record.get(difficulty_field, "")).lower()
            factor = table.get(level, 1.0)
            w *= factor
            why.append(f"difficulty {level or '?'} x{factor:g}")
        if scheme in ("recency", "difficulty_recency"):
            if when is not None and len(known) > 1:
                factor = recency_floor + (1 - recency_floor) * rank[when] / (len(known) - 1)
            else:
                factor = 1.0
            w *= factor
            shown = record.get(date_field, "?")
            why.append(f"{date_field} {shown} x{factor:.2f}")
        raw.append((w, ", ".join(why) or "uniform"))
    mean = sum(w for w, _ in raw) / len(raw) if raw else 1.0
    return [(w / mean, why) for w, why in raw]
