"""LEMA's texts: a sampled path as a numbered chain, and the training rows' outputs.

A student's path becomes the "Step k: ..." chain the corrector sees (its own numbered
steps, or else its lines), with its answer line. The training rows follow the published
layouts (PAPERS.md section 4): a CoT row is question -> chain ending "The answer is N.";
a correction row is (instruction, question, original solution, "Incorrect Step:") ->
"Step k.\\nExplanation: ...\\nCorrect Solution:\\n{...}" with the literal "..." kept. The
ablations write the same correction differently: ``no_explanation`` drops the explanation,
``solution_only`` keeps only the whole corrected chain, as a CoT row. Text only.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.paradigms.lema.formats import Triplet
from engine.steps import chain_steps, split_steps

WRITINGS = ("full", "solution_only", "no_explanation")


@dataclass(frozen=True)
class Chain:
    """A path as numbered steps and its answer line (None when it states no answer)."""

    steps: list[str]
    answer_line: str | None

    def text(self) -> str:
        lines = [f"Step {k}: {t}" for k, t in enumerate(self.steps, 1)]
        return "\n".join(lines + ([self.answer_line] if self.answer_line else []))


def as_chain(text: str) -> Chain:
    """The path's "Step k:" steps renumbered 1..n, or, when it has none, its lines (an
    answer line, "The answer is ...", kept apart)."""
    numbered = chain_steps(text)
    if numbered.texts:
        return Chain(list(numbered.texts), numbered.answer_line)
    steps, answer = [], numbered.answer_line
    for piece in split_steps(text, "lines"):
        if answer is not None and piece.text == answer:
            continue
        steps.append(piece.text)
    return Chain(steps, answer)


def correction_target(triplet: Triplet, writing: str) -> str:
    """The output of a correction row: the published triplet, or it without the explanation."""
    if writing == "full":
        return triplet.target()
    if writing == "no_explanation":
        return f"Step {triplet.step}.\nCorrect Solution:\n{{\n{triplet.solution}\n}}"
    raise ValueError(f"no correction row for writing {writing!r}")


def corrected_chain(triplet: Triplet, original: Chain) -> str:
    """The whole corrected chain (the student's steps before k, then the corrected ones):
    the target of a ``solution_only`` row and the "correct" side of ΔPPL."""
    return triplet.full_solution(original.steps)
