"""Paradigm `supercorrect`: hierarchical thought templates (HSFT), then cross-model DPO on the
student's first wrong step (SuperCorrect, ICLR 2025; PAPERS.md section 3).

The teacher rewrites each reference solution as an XML thought template (<StepN> with
<Key> notes, <Generalized>, <Answer>); the student learns problem -> template (HSFT); the
HSFT student solves the training problems; for each wrong solution the teacher (with the
reference) names the first wrong step k with its <Cause> and <Correction>, and the student
corrects itself without the reference; pairs (problem + steps 1..k-1; teacher's step k vs
the student's) train DPO from the HSFT adapter; the student is evaluated after HSFT and
after DPO on the same items.

Files: ``formats.py`` (the XML parsers and writers), ``params.py``, ``stages.py`` (template,
hsft, hsft_eval, solve), ``correct.py``, ``pairs.py``, ``dpo.py`` (dpo, evaluate),
``report.py`` (template share, answer spread, paired lift). Prompts:
``recipes/prompts/supercorrect/``.
"""

from __future__ import annotations

from engine.paradigms import Paradigm, StageSpec
from engine.paradigms.supercorrect import params as P
from engine.paradigms.supercorrect.correct import correct
from engine.paradigms.supercorrect.dpo import dpo, evaluate
from engine.paradigms.supercorrect.pairs import pairs
from engine.paradigms.supercorrect.stages import hsft, hsft_eval, solve, template

PARADIGM = Paradigm(
    name="supercorrect",
    title="SuperCorrect: thought templates + cross-model DPO",
    paper="SuperCorrect: Advancing Small LLM Reasoning with Thought Template Distillation "
          "and Self-Correction (ICLR 2025)",
    description="HSFT on the teacher's hierarchical XML templates, then DPO on the student's "
                "first wrong step: the teacher's cause and correction against the student's.",
    default_recipe="supercorrect-lab.yaml",
    stages=(
        StageSpec("template", template, P.TemplateParams, "The teacher rewrites each reference "
                  "solution as an XML thought template; broken or wrong ones are flagged.",
                  reads_params=("evaluate.task", "evaluate.answer_format")),
        StageSpec("hsft", hsft, P.HsftParams, "QLoRA SFT on problem -> template.",
                  reads_params=("evaluate.answer_format",)),
        StageSpec("hsft_eval", hsft_eval, P.HsftEvalParams, "The HSFT student answers the "
                  "evaluation items (the before of DPO's lift).",
                  reads_params=("evaluate.task", "evaluate.answer_format", "evaluate.batch_size")),
        StageSpec("solve", solve, P.SolveParams, "The HSFT student solves the training "
                  "problems in the template; answers verified.",
                  reads_params=("evaluate.task", "evaluate.answer_format", "evaluate.batch_size")),
        StageSpec("correct", correct, P.CorrectParams, "For each wrong solution: the teacher's "
                  "cause and correction of the first wrong step (with the reference), "
                  "optional inspector rounds, the student's own self-correction.",
                  reads_params=("evaluate.task", "evaluate.answer_format")),
        StageSpec("pairs", pairs, P.PairsParams, "Preference pairs on step k: problem + steps "
                  "1..k-1; the teacher's correction vs the student's."),
        StageSpec("dpo", dpo, P.DpoParams, "DPO from the HSFT adapter, the HSFT student as the "
                  "reference."),
        StageSpec("evaluate", evaluate, P.EvaluateParams, "The final student on the evaluation "
                  "items: accuracy, template share, answer spread, lift over HSFT."),
    ),
)

__all__ = ["PARADIGM"]
