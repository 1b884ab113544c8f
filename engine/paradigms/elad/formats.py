"""Parsers for ELAD's teacher answers: Yes/No per step, verdicts per step, the revision.

The prompts are ``recipes/prompts/elad/``: ``verify_step.j2`` asks "Is Step k correct?"
and wants one word; ``verify_all.j2`` wants one line "Step k: Yes|No" per step;
``revise.j2`` wants the correct solution from the first wrong step on. Real teachers
add words ("Yes, because...", "**No**"), skip or repeat lines, or repeat the correct
prefix; the parsers take what is clear and say what is not. Text only: no store, no
model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from engine.steps import chain_steps

_WORD = re.compile(r"[A-Za-z]+")
_VERDICT_LINE = re.compile(r"^\s*(?:[*#-]+\s*)?step\s*(\d+)\s*[:.)\-]*\s*(?:[*_]+\s*)?"
                           r"(yes|no|correct|incorrect|wrong|right)\b", re.IGNORECASE | re.MULTILINE)
_TRUE = {"yes", "correct", "right"}


def parse_yes_no(text: str) -> bool | None:
    """True for an answer that starts with Yes, False for No, None if it says neither first.

    Only the first word counts ("No, step 2 is right" is No); "Correct"/"Incorrect" are
    read as Yes/No."""
    words = _WORD.findall(text)
    if not words:
        return None
    first = words[0].lower()
    if first in ("yes", "correct"):
        return True
    if first in ("no", "incorrect", "wrong"):
        return False
    return None


@dataclass(frozen=True)
class Verdicts:
    """Verdicts per step (index 0 = Step 1); None where the answer gave none."""

    verdicts: list[bool | None]
    reason: str  # '' when every step has exactly one verdict

    @property
    def first_no(self) -> int | None:
        """The 1-based number of the first step judged wrong."""
        return next((k for k, v in enumerate(self.verdicts, start=1) if v is False), None)


def parse_verdicts(text: str, n_steps: int) -> Verdicts:
    """Read "Step k: Yes/No" lines for a chain of ``n_steps`` steps.

    A step given twice keeps its first verdict; steps beyond the chain are ignored;
    both are named in ``reason``, as are steps with no verdict."""
    verdicts: list[bool | None] = [None] * n_steps
    problems: list[str] = []
    for match in _VERDICT_LINE.finditer(text):
        k, word = int(match.group(1)), match.group(2).lower()
        if not 1 <= k <= n_steps:
            problems.append(f"a verdict for Step {k}, beyond the chain's {n_steps} steps")
        elif verdicts[k - 1] is not None:
            problems.append(f"Step {k} judged twice (the first verdict kept)")
        else:
            verdicts[k - 1] = word in _TRUE
    missing = [str(k) for k, v in enumerate(verdicts, start=1) if v is None]
    if missing:
        problems.append(f"no verdict for step{'s' if len(missing) > 1 else ''} "
                        f"{', '.join(missing)}")
    return Verdicts(verdicts, "; ".join(problems))


@dataclass(frozen=True)
class Revision:
    """The teacher's steps from the first wrong step on, and its answer line."""

    steps: list[str]  # step texts, label dropped, numbered from ``first``
    first: int
    answer_line: str | None
    reason: str  # '' when usable

    def chain(self, prefix: list[str]) -> str:
        """The revised chain: the student's correct steps 1..first-1, then these."""
        kept = [f"Step {k}: {t}" for k, t in enumerate(prefix[: self.first - 1], start=1)]
        new = [f"Step {k}: {t}" for k, t in enumerate(self.steps, start=self.first)]
        return "\n".join([*kept, *new, *([self.answer_line] if self.answer_line else [])])


def parse_revision(text: str, first: int) -> Revision:
    """Read the correct continuation from Step ``first`` on.

    A teacher that repeats the correct prefix (starts again at Step 1) has it dropped:
    the student's own steps 1..first-1 are kept instead. Flagged: no steps from
    ``first`` on, steps that skip a number, no final "The answer is" line."""
    chain = chain_steps(text)
    pairs = [(n, t) for n, t in zip(chain.numbers, chain.texts, strict=True) if n >= first]
    steps = [t for _, t in pairs]
    problems = []
    if not pairs:
        problems.append(f"no steps from Step {first} on")
    elif [n for n, _ in pairs] != list(range(first, first + len(pairs))):
        problems.append("the steps are not numbered "
                        f"{first}, {first + 1}, ... (got {', '.join(str(n) for n, _ in pairs)})")
    if chain.answer_line is None:
        problems.append("no final line 'The answer is N.'")
    return Revision(steps, first, chain.answer_line, "; ".join(problems))
