"""Stage parameters of the `reer` paradigm (help texts are the GUI's tooltips).

Defaults follow the paper where it gives a number (PAPERS.md section 5: 2 expansions per
segment at temperature 0.8 / top_p 0.85, at most 10 segments, stop below 0.25, log-probs
clipped to [-2, 0], drafts under 100 tokens or of one segment dropped, segments of at
least 100 characters); the filter thresholds are unpublished, so they are ours.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DEFAULT_LAYOUT = "<think>\n{thinking}\n</think>\n<answer>\n{answer}\n</answer>"


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BaselineParams(_Params):
    enabled: bool = Field(True, description="Train the no-thinking baseline student (query -> "
                          "answer) that the evaluate stage compares the REER student with. "
                          "In a study this stage is computed once per seed and shared.")


class DraftParams(_Params):
    template: str = Field("prompts/reer/draft.j2", description="The teacher's prompt for the "
                          "first thinking z0 (it sees the query and the reference answer).")
    splits: list[Literal["train", "validation"]] = Field(
        default_factory=lambda: ["train", "validation"],  # type: ignore[arg-type]
        description="Splits to draft thinking for (validation rows pick the checkpoint).")
    min_tokens: int = Field(100, ge=0, description="A draft shorter than this many tokens (the "
                            "teacher's count) is redrawn, then flagged (the paper drops "
                            "drafts under 100 tokens).")
    min_segments: int = Field(2, ge=1, description="A draft with fewer segments is redrawn, "
                              "then flagged (the paper drops single-segment drafts).")
    min_segment_chars: int = Field(100, ge=1, description="Segmentation: a piece shorter "
                                   "than this merges into the next (the paper: 100).")
    redraws: int = Field(2, ge=0, le=10, description="How often a draft that is too short, "
                         "of one segment or unfinished is asked again (a new sample) before "
                         "it is flagged and kept out.")
    max_tokens: int | None = Field(None, gt=0, description="Overrides teacher.max_tokens.")
    batch: int | None = Field(None, ge=1, description="Items sent to the teacher together, "
                              "then committed (default: teacher.concurrency).")


class SearchParams(_Params):
    enabled: bool = Field(True, description="Off: no edits, z* = z0 (the 'no search' arm); z0 "
                          "is still scored, so its PPL is known.")
    template: str = Field("prompts/reer/edit.j2", description="The teacher's prompt for a "
                          "segment edit (the segment marked <replace>, the rewrite in "
                          "<refine>).")
    max_steps: int = Field(10, ge=1, description="Segments refined, in order (the paper: 10).")
    expansions: int = Field(2, ge=1, le=16, description="Candidate rewrites the teacher "
                            "proposes per segment (the paper: 2).")
    temperature: float = Field(0.8, ge=0, le=2, description="Sampling temperature of the "
                               "edits (the paper: 0.8).")
    top_p: float = Field(0.85, gt=0, le=1, description="Nucleus sampling of the edits (the "
                         "paper: 0.85).")
    top_k: int | None = Field(None, ge=1, description="Top-k of the edits (the paper: 40). "
                              "Only vLLM / SGLang / llama.cpp accept it; OpenAI rejects it.")
    stop_below: float = Field(0.25, ge=0, description="Stop an item's search once its score "
                              "(mean clipped negative log-prob of the answer) is below this "
                              "(the paper: 0.25).")
    clip: float = Field(2.0, gt=0, description="Each token's log-prob is clipped to "
                        "[-clip, 0] before the mean (the paper: 2).")
    layout: str = Field(DEFAULT_LAYOUT, description="How thinking and answer follow the "
                        "query, with {thinking} and {answer}; the scorer and the training "
                        "rows use the same layout. The scorer reads everything before the "
                        "answer, and the answer's first segment, as context.")
    scorer: str | None = Field(None, description="The model that scores (a Hugging Face id "
                               "or folder); default: the student's base model. The paper "
                               "scores with a smaller base model.")
    batch_items: int = Field(8, ge=1, description="Items searched side by side: their "
                             "candidates are asked for together and scored in one batch.")
    score_batch: int = Field(16, ge=1, description="Candidates per forward pass of the scorer.")
    score_dtype: Literal["auto", "float32", "bfloat16"] = Field(
        "auto", description="The scorer's dtype: float32 (exact, slowest on a CPU), bfloat16 "
        "(its copy of the model cast; scores within a few thousandths), or auto: bfloat16 "
        "where the hardware multiplies it natively (a CUDA GPU with bf16, where the student "
        "computes in bf16 anyway; a CPU with AVX512-BF16 or AMX), else float32. "
        "bench/reer_score.py measures both.")
    max_tokens: int | None = Field(None, gt=0, description="Overrides teacher.max_tokens.")

    @field_validator("layout")
    @classmethod
    def _layout(cls, value: str) -> str:
        a, b = value.find("{thinking}"), value.find("{answer}")
        if value.count("{thinking}") != 1 or value.count("{answer}") != 1 or not 0 <= a < b:
            raise ValueError("layout must hold {thinking} once and then {answer} once, e.g. "
                             + repr(DEFAULT_LAYOUT))
        return value


class FilterParams(_Params):
    require_finished: bool = Field(True, description="Drop a thinking whose draft never "
                                   "closed </think> (cut off).")
    repeat_n: int = Field(5, ge=2, description="Word n-gram size for the repetition check.")
    max_repeat_share: float = Field(0.2, ge=0, le=1, description="Drop a thinking when more "
                                    "than this share of its word n-grams repeat an earlier "
                                    "one (a looping generation).")
    flag_ngram_8: float = Field(0.2, ge=0, le=1, description="Flag a thinking as leaky when "
                                "more than this share of its word 8-grams occur in the "
                                "answer.")
    flag_rouge_l: float = Field(0.5, ge=0, le=1, description="Flag as leaky above this ROUGE-L "
                                "F1 of the thinking against the answer.")
    flag_copied_words: int = Field(25, ge=1, description="Flag as leaky when the thinking "
                                   "copies a run of at least this many words from the answer.")
    drop_flagged: bool = Field(False, description="Also keep leaky-flagged thinking out of "
                               "training (off: flagged, still trained on).")
    drop_leakiest: float = Field(0.0, ge=0, lt=1, description="Keep the leakiest share of "
                                 "the kept items out of training, ranked by `rank_by` (the "
                                 "study's 'leakiest quartile removed' arm: 0.25).")
    rank_by: Literal["rouge_l", "ngram_8", "ngram_4", "copied_words"] = Field(
        "rouge_l", description="The leakage measure that ranks items for drop_leakiest.")


class TrainParams(_Params):
    thinking: bool = Field(True, description="Train on query -> <think>z*</think> + answer. "
                           "Off: the student is the no-thinking baseline itself (the "
                           "study's 'no thinking' arm; nothing is trained twice).")
    template: str = Field("prompts/reer/student.j2", description="The student's prompt (the "
                          "query); the same at training, scoring and evaluation.")
    max_rows: int | None = Field(None, ge=1, description="Train on at most this many rows.")


class EvaluateParams(_Params):
    pairwise: bool = Field(True, description="Judge the REER student against the no-thinking "
                           "baseline on every evaluation item, in both orders (win-rate "
                           "with a CI).")
    correlation_items: int = Field(50, ge=0, description="Training items whose query the "
                                   "trained student answers and the judge scores, for the "
                                   "table of PPL change vs judge score (0: none).")
    judge_max_tokens: int = Field(512, ge=16, description="Tokens a judge reply may use.")
    batch_size: int = Field(8, ge=1, description="Queries the student answers together.")
