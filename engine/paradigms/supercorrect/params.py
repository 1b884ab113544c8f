"""Stage parameters of the `supercorrect` paradigm (help texts are the GUI's tooltips).

The DPO defaults are for LoRA/QLoRA, not the paper's full fine-tuning (DPO 8 epochs at lr
1e-6): a LoRA adapter moves far less per step than full weights, so its learning rate is
one to two orders of magnitude higher (5e-5 here, the usual LoRA-DPO range 5e-6..1e-4), and
with a few hundred pairs instead of ~10K, 2 epochs; beta 0.1 is TRL's default (the paper
gives none).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TemplateParams(_Params):
    template: str = Field("prompts/supercorrect/template.j2", description="The teacher's prompt: "
                          "rewrite the reference solution as a hierarchical XML template.")
    solution_field: str = Field("solution", description="Item field holding the reference "
                                "(gold) solution the teacher rewrites.")
    splits: list[Literal["train", "validation"]] = Field(
        default_factory=lambda: ["train", "validation"],  # type: ignore[arg-type]
        description="Splits to template (validation rows pick the HSFT checkpoint).")
    max_tokens: int | None = Field(None, gt=0, description="Overrides teacher.max_tokens.")
    batch: int | None = Field(None, ge=1, description="Problems sent to the teacher together, "
                              "then committed (default: teacher.concurrency).")


class HsftParams(_Params):
    template: str = Field("prompts/supercorrect/solve.j2", description="The student's prompt: "
                          "the template rules, then the problem (the same at training, "
                          "solving and evaluation).")
    max_rows: int | None = Field(None, ge=1, description="Train on at most this many templates.")


class HsftEvalParams(_Params):
    enabled: bool = Field(True, description="Evaluate the HSFT student on the evaluation items, "
                          "so the evaluate stage can give DPO's lift over HSFT, paired.")


class SolveParams(_Params):
    samples: int = Field(1, ge=1, le=16, description="Solutions the HSFT student writes per "
                         "training problem (more: more wrong ones to correct, more pairs).")
    temperature: float = Field(0.7, ge=0, le=2, description="Sampling temperature (0 = greedy).")
    max_new_tokens: int = Field(320, gt=0, description="Longest solution.")
    max_problems: int | None = Field(None, ge=1, description="Solve at most this many training "
                                     "problems.")


class CorrectParams(_Params):
    template: str = Field("prompts/supercorrect/correct.j2", description="The teacher's prompt: "
                          "with the reference, find the student's first wrong step and write "
                          "its <Cause> and <Correction>.")
    self_template: str = Field("prompts/supercorrect/self_correct.j2", description="The "
                               "student's self-correction prompt (no reference); its answer is "
                               "started with <StepK><Cause> for the teacher's step K.")
    inspect_template: str = Field("prompts/supercorrect/inspect.j2", description="The "
                                  "inspector's prompt: check a correction against the reference "
                                  "and write the right one.")
    inspect_rounds: int = Field(0, ge=0, le=5, description="Inspector rounds per correction "
                                "(paper: up to 3); a round that repeats the correction ends "
                                "them. Each round is a child trace.")
    self_temperature: float = Field(0.7, ge=0, le=2, description="The student's sampling "
                                    "temperature for its self-correction.")
    self_max_new_tokens: int = Field(160, gt=0, description="Longest self-correction.")
    max_tokens: int | None = Field(None, gt=0, description="Overrides teacher.max_tokens.")
    batch: int | None = Field(None, ge=1, description="Wrong solutions handled together, then "
                              "committed (default: teacher.concurrency).")


class PairsParams(_Params):
    rejected: Literal["self_correction", "original_step"] = Field(
        "self_correction", description="self_correction: the student's own cause and correction "
        "of step k (the paper's pair); original_step: the student's original wrong step k.")
    meta: bool = Field(True, description="Keep the <Cause> (how the step failed) in the pair; "
                       "off: the corrected step only on both sides (the no-meta ablation).")


class DpoParams(_Params):
    enabled: bool = Field(True, description="Train DPO from the HSFT adapter (off: the student "
                          "stays the HSFT one, which evaluate then measures).")
    beta: float = Field(0.1, gt=0, description="DPO beta: how far the policy may move from the "
                        "reference (the HSFT student). TRL's default; the paper gives none.")
    learning_rate: float = Field(5e-5, gt=0, lt=1, description="DPO learning rate. The paper's "
                                 "1e-6 is for full fine-tuning; a LoRA adapter needs ~10-100x "
                                 "more to move as far.")
    epochs: float = Field(2.0, gt=0, description="Passes over the pairs (paper: 8 over ~10K "
                          "pairs, full fine-tuning).")
    max_steps: int | None = Field(None, gt=0, description="Stop after this many optimizer steps.")
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Warm-up share (paper: 0.05).")


class EvaluateParams(_Params):
    task: str = Field("gsm8k", description="Task kind that checks the <Answer> (engine/tasks): "
                      "gsm8k / math_number, math_boxed.")
    batch_size: int = Field(8, ge=1, description="Problems generated together.")
    answer_format: str = Field("a number only", description="How every prompt asks for the "
                               "final answer inside <Answer> (MATH: an expression in LaTeX).")
