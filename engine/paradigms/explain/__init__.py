"""Paradigm `explain`: Li & Mooney (2024), distilling algorithmic reasoning by explaining programs.

Stages: explain (the teacher writes a four-section editorial of the oracle program) ->
weight (per-example training weights) -> train (the student "Reasoner" learns problem ->
editorial) -> plan (M plans per evaluation problem) -> code (a Coder writes T programs per
plan) -> evaluate (programs run in the sandbox; solve@k, the M x T grid, cost curves).
Recipe variants give the baselines: no hint (train.target none, no plans), solve-based
distillation (explain.mode solve), problem -> code fine-tuning (train.target code).

Files: ``params.py`` (stage parameters), ``editorial.py`` (sections, parsing),
``weights.py`` (training weights), ``stages.py`` (explain, weight, train), ``evaluate.py``
(plan, code, evaluate), ``report.py`` (solve@k, the M x T grid, cost from the store).
Prompts: ``recipes/prompts/explain/``.
"""

from __future__ import annotations

from engine.paradigms import Paradigm, StageSpec
from engine.paradigms.explain import params as P
from engine.paradigms.explain.evaluate import code, evaluate, plan
from engine.paradigms.explain.stages import explain, train, weight

PARADIGM = Paradigm(
    name="explain",
    title="Explain solution programs",
    paper="Li & Mooney 2024, Distilling Algorithmic Reasoning from LLMs via Explaining "
          "Solution Programs",
    description="The teacher explains oracle programs; the student learns to write such "
                "plans; a Coder implements sampled plans; solve@k over M plans x T codes.",
    default_recipe="explain-demo.yaml",
    stages=(
        StageSpec("explain", explain, P.ExplainParams, "Teacher writes a 4-section editorial "
                  "of each oracle program.", reads=("dataset", "seed", "teacher")),
        StageSpec("weight", weight, P.WeightParams, "Per-example training weights.",
                  reads=("dataset",)),
        StageSpec("train", train, P.TrainParams, "QLoRA SFT of the Reasoner."),
        StageSpec("plan", plan, P.PlanParams, "Sample M plans per evaluation problem."),
        StageSpec("code", code, P.CodeParams, "The Coder writes T programs per plan.",
                  reads_params=("evaluate.task",)),
        StageSpec("evaluate", evaluate, P.EvaluateParams, "Run programs; solve@k, grid, cost."),
    ),
)

__all__ = ["PARADIGM"]
