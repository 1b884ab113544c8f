"""Stage parameters of the `elad` paradigm (help texts are the GUI's tooltips).

The round loop is one stage (``rounds``) whose parameters hold one section per step of a
round (explore, score, select, revise, train), so a study arm changes one of them with
``stages.rounds.select.method: random``. Nothing here comes from the paper's body (it
could not be read, PAPERS.md section 2): every choice is a parameter with a stated default.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BaselineParams(_Params):
    enabled: bool = Field(True, description="Evaluate the untrained student first (round 0 "
                          "of the accuracy curve; shared by every arm of a study).")


class ExploreParams(_Params):
    k: int = Field(5, ge=1, le=32, description="Chains the student samples per pool item "
                   "(the inter-explanation entropy is over their k final answers).")
    temperature: float = Field(0.7, gt=0, le=2, description="Sampling temperature of the k "
                               "chains (must be > 0, or all k chains are the same).")
    max_new_tokens: int = Field(128, gt=0, description="Longest chain.")


class ScoreParams(_Params):
    weight: float = Field(0.5, ge=0, le=1, description="w in w*H_cons + (1-w)*H_reason: "
                          "1 = inter-explanation entropy only, 0 = intra only.")
    intra_direction: Literal["agree", "disagree"] = Field(
        "agree", description="agree: H_reason = share of steps whose removal leaves the answer "
        "unchanged (the paper's formula, high = selected); disagree: 1 - that share (a step "
        "that changes the answer when dropped counts as uncertainty; the notes' doubt).")
    max_new_tokens: int = Field(96, gt=0, description="Longest continuation of a cut chain "
                                "(the remaining steps and the answer line).")
    max_steps: int = Field(8, ge=1, description="Score at most this many steps of a chain "
                           "(later steps are left out of H_reason).")
    batched: bool = Field(True, description="Generate the cut chains of many items together "
                          "(left padding, one generate per batch) and each distinct prefix "
                          "once; off: one generation per pass (for the speed benchmark).")


class SelectParams(_Params):
    method: Literal["elad", "random", "max_entropy", "least_confidence"] = Field(
        "elad", description="elad: top-B by the combined score; random; max_entropy: "
        "inter-explanation entropy only; least_confidence: 1 - the majority answer's share.")


class ReviseParams(_Params):
    verify: Literal["per_step", "all"] = Field(
        "per_step", description="per_step: one short Yes/No call per step, in order, until the "
        "first No (the paper's DFS); all: one call that returns a verdict for every step.")
    verify_step_template: str = Field("prompts/elad/verify_step.j2", description="Teacher "
                                      "prompt: is step k correct? (verify: per_step)")
    verify_all_template: str = Field("prompts/elad/verify_all.j2", description="Teacher "
                                     "prompt: a Yes/No line per step (verify: all)")
    revise_template: str = Field("prompts/elad/revise.j2", description="Teacher prompt: the "
                                 "correct solution from the first wrong step on.")
    verify_max_tokens: int = Field(8, gt=0, description="Longest Yes/No answer (per_step); "
                                   "verify: all gets 8 tokens a step.")
    max_tokens: int | None = Field(None, gt=0, description="Longest rewrite (default: "
                                   "teacher.max_tokens).")


class TrainParams(_Params):
    init: Literal["base", "continue"] = Field(
        "base", description="base: each round trains a fresh adapter on all revised chains so "
        "far; continue: each round goes on from the previous round's adapter (still on all "
        "of them).")
    template: str = Field("prompts/cot/student.j2", description="The student's prompt (the "
                          "same for exploring, scoring, training and evaluation).")


class RoundsParams(_Params):
    rounds: int = Field(3, ge=1, le=20, description="R: rounds of explore -> score -> select "
                        "-> revise -> train -> evaluate.")
    budget: int = Field(8, ge=1, description="B: pool items the teacher revises per round.")
    pool: int | None = Field(None, ge=1, description="Use at most this many training items as "
                             "the unlabelled pool (default: the whole train split).")
    task: str = Field("gsm8k", description="Task kind that checks answers (engine/tasks): "
                      "gsm8k / math_number, choice, yesno.")
    batch_size: int = Field(16, ge=1, description="Student generations run together.")
    explore: ExploreParams = Field(default_factory=ExploreParams,
                                   description="The k chains per pool item.")
    score: ScoreParams = Field(default_factory=ScoreParams,
                               description="Inter- and intra-explanation uncertainty.")
    select: SelectParams = Field(default_factory=SelectParams,
                                 description="Which B items the teacher revises.")
    revise: ReviseParams = Field(default_factory=ReviseParams,
                                 description="The teacher's step-by-step check and rewrite.")
    train: TrainParams = Field(default_factory=TrainParams,
                               description="SFT on the revised chains so far.")
