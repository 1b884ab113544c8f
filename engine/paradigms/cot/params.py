"""Stage parameters of the `cot` paradigm (help texts are the GUI's tooltips)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BaselineParams(_Params):
    enabled: bool = Field(True, description="Evaluate the untrained student first, so the "
                          "report can give the lift (after - before) on the same items.")


class SolveParams(_Params):
    source: Literal["teacher", "gold"] = Field(
        "teacher", description="teacher: the teacher writes a step-by-step solution per "
        "question (solve-based distillation); gold: the data set's own worked solutions.")
    template: str = Field("prompts/cot/solve.j2", description="The teacher's prompt.")
    gold_field: str = Field("solution", description="Item field holding the worked solution "
                            "(source: gold).")
    splits: list[Literal["train", "validation"]] = Field(
        default_factory=lambda: ["train", "validation"],  # type: ignore[arg-type]
        description="Splits to solve (validation rows pick the checkpoint, never test).")
    keep_wrong: bool = Field(False, description="Also train on teacher solutions whose final "
                             "answer does not match the gold answer (off: they are flagged "
                             "and kept out of training).")
    max_tokens: int | None = Field(None, gt=0, description="Overrides teacher.max_tokens.")
    batch: int | None = Field(None, ge=1, description="Questions sent to the teacher together, "
                              "then committed (default: teacher.concurrency).")


class TrainParams(_Params):
    template: str = Field("prompts/cot/student.j2", description="The student's prompt (the "
                          "same at training and evaluation).")
    max_rows: int | None = Field(None, ge=1, description="Train on at most this many rows "
                                 "(for accuracy-vs-data curves).")


class EvaluateParams(_Params):
    task: str = Field("gsm8k", description="Task kind that checks answers (engine/tasks): "
                      "gsm8k / math_number, math_boxed, choice, yesno.")
    batch_size: int = Field(8, ge=1, description="Questions generated together.")
