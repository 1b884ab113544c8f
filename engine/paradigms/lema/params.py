"""Stage parameters of the `lema` paradigm (help texts are the GUI's tooltips).

LEMA's own training settings (QLoRA r 64, alpha 16, dropout 0.05, lr 2e-4, max grad norm
0.3, constant schedule, no warm-up) are recipe settings (student.lora, training), set in
the GSM8K and MATH presets; the lab recipes use lab sizes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.recipes import TeacherSpec

Split = Literal["train", "validation"]


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _splits() -> list[Split]:
    return ["train", "validation"]


class SampleParams(_Params):
    student: bool = Field(True, description="Sample reasoning paths from the local student "
                          "(the untrained base model, with the student prompt).")
    endpoints: list[TeacherSpec] = Field(
        default_factory=list, description="Other models that sample paths too (the paper used "
        "LLaMA-2, WizardLM and GPT-3.5), each an endpoint like `teacher:`; they are asked "
        "with `endpoint_template`.")
    endpoint_template: str = Field("prompts/cot/solve.j2", description="The prompt the "
                                   "endpoints solve with (step by step, 'The answer is N.').")
    k: int = Field(4, ge=1, le=64, description="Paths sampled per question and per model.")
    temperature: float = Field(0.8, gt=0, le=2, description="Sampling temperature.")
    max_new_tokens: int = Field(256, gt=0, description="Longest sampled path.")
    max_steps: int = Field(12, ge=1, description="Paths with more steps are not kept as "
                           "mistakes (a corrector cannot point into a ramble).")
    per_question: int | None = Field(2, ge=1, description="Keep at most this many distinct "
                                     "wrong paths per question (None: all).")
    splits: list[Split] = Field(default_factory=_splits, description="Splits to sample on "
                                "(validation corrections pick the checkpoint and feed the "
                                "held-out ΔPPL; they are never trained on).")
    max_questions: int | None = Field(None, ge=1, description="Sample on at most this many "
                                      "questions per split.")
    batch_size: int = Field(8, ge=1, description="Questions the student generates together.")


class CorrectParams(_Params):
    template: str = Field("prompts/lema/correct.j2", description="The corrector's few-shot "
                          "prompt in LEMA's layout, ending with 'Incorrect Step:'.")
    max_tokens: int | None = Field(None, gt=0, description="Overrides teacher.max_tokens.")
    batch: int | None = Field(None, ge=1, description="Mistakes sent together, then committed "
                              "(default: teacher.concurrency).")


class CotParams(_Params):
    source: Literal["teacher", "gold"] = Field(
        "teacher", description="teacher: the teacher's own step-by-step solutions (the CoT "
        "half of the mix); gold: the data set's worked solutions.")
    template: str = Field("prompts/cot/solve.j2", description="The teacher's prompt.")
    gold_field: str = Field("solution", description="Item field with the worked solution "
                            "(source: gold).")
    splits: list[Split] = Field(default_factory=_splits, description="Splits to solve.")
    max_questions: int | None = Field(None, ge=1, description="Solve at most this many "
                                      "training questions (the rest are free for extra CoT).")
    extra: Literal["none", "correction_budget"] = Field(
        "none", description="correction_budget: spend as many teacher tokens as the correct "
        "(and evolve) stages spent on extra CoT: first on training questions not solved yet, "
        "then as more samples of solved ones (the 'CoT + more CoT' arm).")
    extra_temperature: float = Field(0.7, ge=0, le=2, description="Sampling temperature of "
                                     "the extra samples.")
    max_tokens: int | None = Field(None, gt=0, description="Overrides teacher.max_tokens.")
    batch: int | None = Field(None, ge=1, description="Questions sent together, then "
                              "committed (default: teacher.concurrency).")


class EvolveParams(_Params):
    enabled: bool = Field(False, description="Correction-centric evolution: new questions "
                          "from the questions that had corrections, then mistakes and "
                          "corrections for them.")
    template: str = Field("prompts/lema/evolve.j2", description="The teacher's prompt for "
                          "new questions.")
    answer_template: str = Field("prompts/lema/answer.j2", description="The prompt that "
                                 "labels a new question (asked 3 times; the majority wins).")
    seeds: int | None = Field(20, ge=1, description="At most this many seed questions.")
    count: int = Field(3, ge=1, le=10, description="New questions per seed.")
    difficulty: Literal["easier", "similar", "harder"] = Field(
        "similar", description="How hard the new questions are (the paper: moderate).")
    votes: int = Field(3, ge=1, le=9, description="Teacher answers per new question; a "
                       "question without a majority is dropped (paper: 3).")
    vote_temperature: float = Field(0.7, gt=0, le=2, description="Temperature of the "
                                    "labelling answers.")


class TrainParams(_Params):
    student_template: str = Field("prompts/lema/student.j2", description="The CoT rows' "
                                  "input (and the evaluation prompt): 'Please solve the "
                                  "following math problem ... Let's think step by step.'")
    correction_template: str = Field("prompts/lema/student_correct.j2", description="The "
                                     "correction rows' input: the instruction, the question, "
                                     "'Original Solution: {...}', 'Incorrect Step:'.")
    corrections: Literal["full", "solution_only", "no_explanation", "none"] = Field(
        "full", description="full: the published triplet; solution_only: the corrected "
        "solution alone as a CoT row (no incorrect step, no explanation); no_explanation: "
        "incorrect step + corrected solution; none: CoT rows only.")
    correction_share: float | None = Field(None, gt=0, lt=1, description="At most this share "
                                           "of the rows are corrections (None: all of both "
                                           "kinds, simply mixed, as the paper did).")
    max_rows: int | None = Field(None, ge=1, description="Train on at most this many rows.")


class EvaluateParams(_Params):
    task: str = Field("gsm8k", description="Task kind that checks answers (engine/tasks): "
                      "gsm8k / math_number (the number after 'The answer is'), math_boxed.")
    batch_size: int = Field(8, ge=1, description="Questions generated together.")


class BaselineParams(_Params):
    enabled: bool = Field(True, description="Evaluate the untrained student first, on the same "
                          "items, so the report gives the lift (after - before).")


class AnalyseParams(_Params):
    enabled: bool = Field(True, description="ΔPPL: the perplexity of the wrong vs the corrected "
                          "chain under the student, before and after training.")
    split: Split = Field("validation", description="Whose corrections to score: validation "
                         "(never trained on) or train.")
    limit: int | None = Field(100, ge=1, description="Score at most this many corrections.")
    batch_size: int = Field(8, ge=1, description="Chains scored together.")
