"""Paradigm `reer`: reverse-engineered reasoning for open-ended generation (PAPERS.md section 5).

Given a query x and a known-good answer y, find the thinking z that makes y most
predictable (z* = argmin PPL(y | x, z)) by local search over z's segments, then train the
student on x -> <think>z*</think> + y. Two doubts of the user's notes are first-class
outputs: does a lower PPL go with better judged answers (the correlation table of the
evaluate stage), and does z leak y (the filter stage's overlap measures)?

Files: ``formats.py`` (draft/edit parsing, segmentation), ``params.py``, ``scoring.py``
(the clipped score), ``leakage.py``, ``stages.py`` (baseline, draft, filter, train),
``search.py``, ``evaluate.py``, ``history.py`` (what the GUI shows of one item's search).
Prompts: ``recipes/prompts/reer/`` (draft.j2, edit.j2, student.j2).
"""

from __future__ import annotations

from engine.paradigms import Paradigm, StageSpec
from engine.paradigms.reer import params as P
from engine.paradigms.reer.evaluate import evaluate
from engine.paradigms.reer.search import search
from engine.paradigms.reer.stages import baseline, draft, filter_stage, train

PARADIGM = Paradigm(
    name="reer",
    title="Reverse-engineered reasoning (REER)",
    paper="REER: Reverse-Engineered Reasoning for Open-Ended Generation (2025)",
    description="The teacher drafts the thinking behind a known-good answer; a PPL-guided "
                "local search refines it segment by segment; the student learns query -> "
                "thinking + answer; judged win-rate vs no thinking, PPL change vs judge "
                "score, and how much the thinking copies the answer.",
    default_recipe="reer-lab.yaml",
    stages=(
        StageSpec("baseline", baseline, P.BaselineParams, "The no-thinking student: SFT on "
                  "query -> answer (shared by a study's arms).",
                  reads_params=("train.template",)),
        StageSpec("draft", draft, P.DraftParams, "The teacher writes a first thinking z0 for "
                  "each (query, answer); bad drafts are redrawn, then flagged.",
                  reads_params=("train.template",)),
        StageSpec("search", search, P.SearchParams, "Segment by segment, the teacher proposes "
                  "rewrites; the local scorer keeps one only if it makes the answer more "
                  "predictable.",
                  reads_params=("train.template",)),
        StageSpec("filter", filter_stage, P.FilterParams, "Drops unfinished or looping "
                  "thinking; measures and flags how much of the answer it copies."),
        StageSpec("train", train, P.TrainParams, "QLoRA SFT on query -> thinking + answer."),
        StageSpec("evaluate", evaluate, P.EvaluateParams, "Judged win-rate vs the "
                  "no-thinking student; PPL change vs judge score per training item."),
    ),
)

__all__ = ["PARADIGM"]
