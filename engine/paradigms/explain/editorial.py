"""The explain editorial: its four sections, parsing a teacher's answer into them, composing them.

Li & Mooney (2024): the Explainer's editorial has four sections. Each is stored as its own
step (kind = section key) so a recipe can train on, or feed the Coder, only some of them
(the paper's ablation: conceptual evolution helps solve@1 most, step-by-step solve@10).
"""

from __future__ import annotations

from dataclasses import dataclass

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
