"""Paradigm `elad`: explanation-guided active distillation (ELAD, ACL Findings 2024;
PAPERS.md section 2): the student's own uncertainty picks which items the teacher revises,
step by step, in R rounds of budget B.

Each round: the student samples k chains per pool item not revised yet (explore); their
final answers' entropy is the inter-explanation uncertainty, and the majority chain cut
before each step and continued by the student gives the intra-explanation term (score);
the top-B items by the chosen selection are taken (select: elad, random, max_entropy,
least_confidence); the teacher checks the majority chain step by step and rewrites it from
the first No, keeping the correct prefix (revise); the student is trained on every revised
chain so far (train) and evaluated (evaluate). Every round records teacher tokens (Yes/No
calls and rewrites apart) and the student's extra forward tokens, so accuracy can be
divided by everything the selection cost (the notes' question).

Why one ``rounds`` stage that loops, not a stage per step and round: a round's explore
needs the previous round's adapter, so the six steps cannot each be a stage that loops
over all rounds, and a stage list that grows with R would need the runner, the study
reuse keys and the GUI to learn per-run stage lists. Inside the one stage each piece of
work is a unit keyed by round and step, so resume is as exact as across stages; the
Runs view shows the round and step in the progress line and the log, the Traces view
filters by role (explore, score, selection, revised, student) with the round in each
trace, and metrics carry the round as their step. The untrained student's evaluation is a
stage of its own (``baseline``) so the arms of a study share it.

Files: ``params.py``, ``scoring.py`` (entropy, intra score, selections), ``passes.py``
(the batched cut-chain passes), ``revise.py`` (the teacher's DFS check and rewrite),
``stages.py``, ``report.py`` (per-round costs), ``formats.py`` (the teacher's answers).
Prompts: ``recipes/prompts/elad/`` and the student's ``recipes/prompts/cot/student.j2``.
"""

from __future__ import annotations

from engine.paradigms import Paradigm, StageSpec
from engine.paradigms.elad import params as P
from engine.paradigms.elad.stages import baseline, rounds

PARADIGM = Paradigm(
    name="elad",
    title="ELAD: active distillation by the student's uncertainty",
    paper="ELAD: Explanation-Guided Large Language Models Active Distillation (ACL Findings "
          "2024)",
    description="Rounds of: the student's uncertainty (answer entropy over k chains, answer "
                "stability when a step is dropped) picks B items; the teacher checks the "
                "student's chain step by step and rewrites it from the first wrong step; "
                "SFT on the revised chains; accuracy per round against teacher and total "
                "compute.",
    default_recipe="elad-lab.yaml",
    stages=(
        StageSpec("baseline", baseline, P.BaselineParams, "The untrained student answers the "
                  "evaluation items (round 0).",
                  reads_params=("rounds.task", "rounds.batch_size", "rounds.train.template")),
        StageSpec("rounds", rounds, P.RoundsParams, "R rounds of explore -> score -> select "
                  "-> revise -> train -> evaluate, budget B items a round."),
    ),
)

__all__ = ["PARADIGM"]
