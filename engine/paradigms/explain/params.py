"""Stage parameters of the explain paradigm (help texts are the GUI's tooltips)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.paradigms.explain.editorial import SECTIONS

ALL_SECTIONS = list(SECTIONS)


def _check_sections(value: list[str]) -> list[str]:
    unknown = [s for s in value if s not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown sections {unknown}: use {', '.join(SECTIONS)}")
    return value


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExplainParams(_Params):
    mode: Literal["explain", "solve"] = Field(
        "explain", description="explain: the teacher explains the oracle program (the paper); "
        "solve: it solves the problem alone with its own reasoning (solve-based baseline).")
    per_section: bool = Field(False, description="Ask for each section in its own call: "
                              "4x the calls, but small teachers keep the format.")
    template: str = Field("prompts/explain/explainer.j2", description="Explainer prompt.")
    section_template: str = Field("prompts/explain/explainer_section.j2",
                                  description="Prompt for one section (per_section).")
    solve_template: str = Field("prompts/explain/solver.j2", description="Prompt of the "
                                "solve-based baseline.")
    splits: list[Literal["train", "validation"]] = Field(
        default_factory=lambda: ["train", "validation"],  # type: ignore[arg-type]
        description="Splits to explain.")
    max_tokens: int | None = Field(None, gt=0, description="Overrides teacher.max_tokens.")
    batch: int | None = Field(None, ge=1, description="Items sent to the teacher together, "
                              "then committed (default: teacher.concurrency).")


class WeightParams(_Params):
    scheme: Literal["uniform", "difficulty", "recency", "difficulty_recency"] = Field(
        "uniform", description="Per-example weights: the paper favours simpler and more "
        "recent problems.")
    difficulty_field: str = Field("difficulty", description="Item field with the difficulty.")
    date_field: str = Field("date", description="Item field with the date (YYYY-MM-DD).")
    difficulty_weights: dict[str, float] = Field(
        default_factory=lambda: {"easy": 1.0, "medium": 0.75, "hard": 0.5},
        description="Weight per difficulty level (before normalising to mean 1).")
    recency_floor: float = Field(0.5, gt=0, le=1, description="Weight of the oldest item "
                                 "relative to the newest (1).")


class TrainParams(_Params):
    target: Literal["explanation", "code", "none"] = Field(
        "explanation", description="explanation: problem -> editorial (the Reasoner); code: "
        "problem -> oracle program (baseline); none: no training (no-hint baseline).")
    sections: list[str] = Field(default_factory=lambda: list(ALL_SECTIONS),
                                description="Editorial sections in the training target.")
    template: str = Field("prompts/explain/reasoner.j2", description="Reasoner prompt.")

    _sections = field_validator("sections")(_check_sections)


class PlanParams(_Params):
    plans: int = Field(10, ge=1, le=100, description="M: plans sampled per problem.")
    temperature: float = Field(0.8, ge=0, le=2, description="Plan sampling temperature.")
    top_p: float = Field(0.95, gt=0, le=1, description="Nucleus sampling.")
    max_new_tokens: int = Field(512, gt=0, description="Longest plan.")
    batch_size: int = Field(8, ge=1, description="Prompts generated together.")
    sections_for_coder: list[str] | None = Field(
        None, description="Give the Coder only these sections of each plan (default: all).")

    _sections = field_validator("sections_for_coder")(
        lambda v: None if v is None else _check_sections(v))


class CodeParams(_Params):
    coder: Literal["teacher", "student"] = Field(
        "teacher", description="Who writes the programs: the teacher endpoint or the "
        "(trained) student.")
    codes_per_plan: int = Field(1, ge=1, le=100, description="T: programs per plan.")
    template: str = Field("prompts/explain/coder.j2", description="Coder prompt.")
    temperature: float = Field(0.8, ge=0, le=2, description="Coder sampling temperature.")
    max_tokens: int = Field(768, gt=0, description="Longest program.")
    show_tests: int = Field(0, ge=0, description="Show this many tests in the prompt (MBPP "
                            "convention: 3, as the function name is only in the tests).")
    batch: int | None = Field(None, ge=1, description="Plans sent to the coder together, then "
                              "committed (default: teacher.concurrency; the student: 8).")


class EvaluateParams(_Params):
    task: Literal["code_asserts", "code_check", "code_stdio"] = Field(
        "code_asserts", description="How programs are judged: assert tests (MBPP, demo), "
        "check(candidate) (LeetCode/HumanEval), or stdin/stdout (CodeContests).")
    k: list[int] = Field(default_factory=lambda: [1, 5, 10], description="k for solve@k.")
    budget: int = Field(10, ge=1, description="M*T for the plans x codes grid.")
    timeout_s: float = Field(10.0, gt=0, description="Wall-clock limit per program.")
    workers: int | None = Field(None, ge=1, description="Programs run in parallel "
                                "(default: CPU count).")
