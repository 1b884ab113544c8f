"""Paradigm `cot`: plain chain-of-thought distillation, the baseline every other paradigm beats.

The teacher (or the data set's gold solutions) writes a step-by-step solution per training
question; wrong ones are flagged and kept out; the student is fine-tuned on question ->
solution; the student is evaluated before and after on the same items, so the report gives
the lift with confidence intervals. It is also the "plain CoT SFT" arm of the LEMA and
SuperCorrect studies and the lab demo.

Files: ``params.py`` (stage parameters), ``stages.py`` (baseline, solve, train, evaluate).
Prompts: ``recipes/prompts/cot/`` (``solve.j2`` for the teacher, ``student.j2``).
"""

from __future__ import annotations

from engine.paradigms import Paradigm, StageSpec
from engine.paradigms.cot import params as P
from engine.paradigms.cot.stages import baseline, evaluate, solve, train

PARADIGM = Paradigm(
    name="cot",
    title="Chain-of-thought distillation",
    paper="Solve-based distillation (the baseline of every paradigm here)",
    description="The teacher solves step by step; the student learns question -> solution; "
                "accuracy before and after training on the same items, with CIs.",
    default_recipe="cot-lab.yaml",
    stages=(
        StageSpec("baseline", baseline, P.BaselineParams, "The untrained student answers the "
                  "evaluation items.",
                  reads_params=("train.template", "evaluate.task", "evaluate.batch_size")),
        StageSpec("solve", solve, P.SolveParams, "The teacher (or the data) gives a verified "
                  "step-by-step solution per training question.",
                  reads_params=("evaluate.task",)),
        StageSpec("train", train, P.TrainParams, "QLoRA SFT on question -> solution."),
        StageSpec("evaluate", evaluate, P.EvaluateParams, "The trained student answers the "
                  "evaluation items; accuracy and lift with CIs."),
    ),
)

__all__ = ["PARADIGM"]
