"""Paradigm `lema`: learning from mistakes (LEMA, Microsoft 2024; PAPERS.md section 4).

The base student (and optionally other endpoints) samples k paths per training question;
the wrong ones, deduplicated, are mistakes. For each, the teacher writes LEMA's correction
triplet ("Incorrect Step: Step k." / "Explanation: ..." / "Correct Solution: {...}");
a correction is kept only if it parses, names a step of the path and reaches the gold
answer, and every dropped one records why. The teacher's own CoT is the other half of the
mix; optional correction-centric evolution adds corrections of new questions written from
the corrected ones, labelled by a majority of 3 teacher answers. The student is trained
on CoT rows mixed with correction rows (loss on outputs only), evaluated before and after
on the same items, and ΔPPL (wrong vs corrected chain) is measured before and after.

The study (recipes/studies/lema.yaml) asks the notes' question: is it the error and its
explanation, or only more correct CoT? Its arms write the same corrections differently
(full / solution only / no explanation), or spend the correction tokens on more CoT.

Files: ``formats.py`` (parsers), ``rows.py`` (chains and row layouts), ``params.py``,
``stages.py`` (baseline, sample, cot), ``correct.py``, ``evolve.py``, ``train.py`` (train,
evaluate), ``analyse.py`` (ΔPPL). Prompts: ``recipes/prompts/lema/``.
"""

from __future__ import annotations

from engine.paradigms import Paradigm, StageSpec
from engine.paradigms.lema import params as P
from engine.paradigms.lema.analyse import analyse
from engine.paradigms.lema.correct import correct
from engine.paradigms.lema.evolve import evolve
from engine.paradigms.lema.stages import baseline, cot, sample
from engine.paradigms.lema.train import evaluate, train

PARADIGM = Paradigm(
    name="lema",
    title="LEMA: learning from mistakes",
    paper="Learning From Mistakes Makes LLM Better Reasoner (An et al., 2024)",
    description="The teacher corrects the student's wrong paths (incorrect step, explanation, "
                "corrected solution); the student trains on CoT mixed with the corrections; "
                "accuracy before/after with CIs and ΔPPL of wrong vs corrected chains.",
    default_recipe="lema-lab.yaml",
    stages=(
        StageSpec("baseline", baseline, P.BaselineParams, "The untrained student answers the "
                  "evaluation items.",
                  reads_params=("train.student_template", "evaluate.task", "evaluate.batch_size")),
        StageSpec("sample", sample, P.SampleParams, "The student (and listed endpoints) "
                  "sample k paths per question; the wrong, distinct ones are mistakes.",
                  reads_params=("train.student_template", "evaluate.task")),
        StageSpec("correct", correct, P.CorrectParams, "The teacher's correction triplet per "
                  "mistake; kept only with the gold answer, every drop with its reason.",
                  reads_params=("evaluate.task",)),
        StageSpec("evolve", evolve, P.EvolveParams, "Optional: new questions from corrected "
                  "ones, majority-labelled, then their mistakes and corrections.",
                  reads_params=("train.student_template", "evaluate.task")),
        StageSpec("cot", cot, P.CotParams, "The teacher's verified step-by-step solutions "
                  "(or gold ones); optionally more of them for the correction budget.",
                  reads_params=("evaluate.task",)),
        StageSpec("train", train, P.TrainParams, "SFT on CoT rows mixed with correction rows, "
                  "loss on outputs only.",
                  reads_params=("evaluate.task",)),
        StageSpec("evaluate", evaluate, P.EvaluateParams, "The trained student on the "
                  "evaluation items: accuracy and paired lift with CIs."),
        StageSpec("analyse", analyse, P.AnalyseParams, "ΔPPL of wrong vs corrected chains "
                  "under the student, before and after training."),
    ),
)

__all__ = ["PARADIGM"]
