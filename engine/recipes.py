"""Recipes: typed models of a YAML experiment, loading, and validation that reports every error.

A recipe names a paradigm, a data set, a teacher, a student, training and evaluation
settings, and per-stage parameters. This module knows the recipe's own models and YAML,
and nothing of the paradigm table: ``engine.validate.load_recipe`` adds each stage's
parameters (checked by the table) and raises ``RecipeError`` listing *all* problems with
file, line, field and fix. The field descriptions double as GUI tooltips. ``distillab
validate`` and the GUI's Validate button call the same ``load_recipe``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from engine.errors import DistillabError

SCHEMA_VERSION = 1


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class DatasetSpec(_Model):
    """Where the data comes from and how its fields map onto the paradigm's."""

    name: str | None = Field(None, description="A short name for the data set (default: file name).")
    path: str | None = Field(
        None, description="Data file (.jsonl, .jsonl.gz, .json, .csv, .parquet), relative to the "
        "recipe's folder; ${VAR:-default} is expanded from the environment.")
    hub: str | None = Field(None, description="A Hugging Face data set name (e.g. openai/gsm8k), "
                            "instead of path.")
    hub_config: str | None = Field(None, description="The hub data set's configuration, if any.")
    hub_split: str = Field("train", description="Which split of the hub data set to read.")
    records_key: str | None = Field(None, description="For a .json file holding an object: the "
                                    "key of the list of records (e.g. examples).")
    fields: dict[str, str] = Field(
        default_factory=dict, description="Paradigm field -> column in the data (dotted for "
        "nested), e.g. {question: text, answer: answer}.")
    split: dict[str, float] = Field(
        default_factory=lambda: {"train": 0.8, "validation": 0.1, "test": 0.1},
        description="Fractions for train/validation/test (they must add up to 1); shuffled "
        "with the recipe's seed.")
    split_field: str | None = Field(None, description="Use this column's values "
                                    "(train/validation/test) instead of random fractions.")
    limit: int | None = Field(None, gt=0, description="Read only the first N records.")

    @field_validator("split")
    @classmethod
    def _fractions(cls, split: dict[str, float]) -> dict[str, float]:
        unknown = set(split) - {"train", "validation", "test"}
        if unknown:
            raise ValueError(f"unknown split names {sorted(unknown)}: use train, validation, test")
        if any(v < 0 for v in split.values()) or abs(sum(split.values()) - 1) > 1e-6:
            raise ValueError(f"split fractions must be >= 0 and add up to 1 (they add up to "
                             f"{sum(split.values()):g})")
        return split

    @model_validator(mode="after")
    def _check(self) -> DatasetSpec:
        if (self.path is None) == (self.hub is None):
            raise ValueError("give exactly one of `path` (a file) or `hub` (a hub data set name)")
        return self


class BudgetSpec(_Model):
    """A cap on what the teacher may spend in one run; the run stops cleanly when it is reached."""

    max_tokens: int | None = Field(None, gt=0, description="Teacher tokens (in + out) per run.")
    max_usd: float | None = Field(None, gt=0, description="Teacher cost in USD per run.")


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TeacherSpec(_Model):
    """The model that writes explanations, checks steps, corrects or judges."""

    kind: Literal["embedded", "openai"] = Field(
        "embedded", description="embedded: the local llama.cpp model; openai: any "
        "OpenAI-compatible endpoint (OpenAI, vLLM, SGLang, Ollama, llama.cpp server, LM Studio).")
    base_url: str | None = Field(None, description="Endpoint URL, e.g. http://localhost:8000/v1 "
                                 "(kind openai; default https://api.openai.com/v1).")
    model: str = Field("embedded", description="Model name at the endpoint, or a GGUF path for "
                       "the embedded teacher ('embedded' = SmolLM2-135M-Instruct).")
    api_key_env: str | None = Field(None, description="Name of the environment variable holding "
                                    "the API key (never the key itself).")
    concurrency: int = Field(8, ge=1, le=512, description="Requests in flight at once.")
    requests_per_minute: int | None = Field(None, gt=0, description="Rate limit, if the "
                                            "endpoint has one.")
    tokens_per_minute: int | None = Field(None, gt=0, description="Token rate limit, if any.")
    timeout_s: float = Field(120.0, gt=0, description="Seconds before one request is abandoned "
                             "and retried.")
    max_retries: int = Field(5, ge=0, le=20, description="Retries on 429, 5xx, timeouts.")
    temperature: float = Field(0.7, ge=0, le=2, description="Sampling temperature.")
    max_tokens: int = Field(1024, gt=0, description="Longest answer, in tokens.")
    budget: BudgetSpec = Field(default_factory=BudgetSpec, description="Spending cap per run.")
    use_keyring: bool = Field(True, description="Look the API key up in the OS keyring "
                              "(service 'distillab', user = endpoint URL) when the "
                              "environment variable is not set.")
    price_input_per_m: float | None = Field(None, ge=0, description="USD per million input "
                                            "tokens (overrides the price table).")
    price_output_per_m: float | None = Field(None, ge=0, description="USD per million output "
                                             "tokens (overrides the price table).")
    context_length: int = Field(4096, ge=256, description="Context window of the embedded "
                                "llama.cpp teacher, in tokens (prompt + answer).")

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError("api_key_env must be the NAME of an environment variable (e.g. "
                             "OPENAI_API_KEY), never the key itself")
        return value


class LoraSpec(_Model):
    """Low-rank adapters trained on top of the frozen (quantised) student."""

    r: int = Field(16, ge=1, le=1024, description="LoRA rank.")
    alpha: int = Field(32, ge=1, description="LoRA scaling alpha.")
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA inputs.")
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="Modules to adapt: all-linear, or names like [q_proj, v_proj].")


class StudentSpec(_Model):
    """The local model that is trained."""

    model: str = Field("embedded", description="Hugging Face id (e.g. Qwen/Qwen2.5-0.5B-Instruct), "
                       "a local folder, or 'embedded' for SmolLM2-135M-Instruct.")
    quantization: Literal["nf4", "int8", "none"] = Field(
        "nf4", description="nf4: 4-bit QLoRA (bitsandbytes); int8; none: full precision LoRA.")
    lora: LoraSpec = Field(default_factory=LoraSpec, description="LoRA adapter settings.")
    gradient_checkpointing: bool = Field(True, description="Trade compute for memory.")
    max_length: int = Field(1024, ge=16, description="Longest training sequence, in tokens.")


class TrainingSpec(_Model):
    """Optimisation settings shared by the paradigms' SFT and DPO stages."""

    epochs: float = Field(1.0, gt=0, description="Passes over the training data.")
    max_steps: int | None = Field(None, gt=0, description="Stop after this many optimizer steps.")
    learning_rate: float = Field(2e-4, gt=0, lt=1, description="Peak learning rate.")
    batch_size: int = Field(4, ge=1, description="Micro-batch size per step.")
    grad_accum: int = Field(4, ge=1, description="Gradient accumulation steps.")
    warmup_ratio: float = Field(0.03, ge=0, lt=1, description="Fraction of steps warming up.")
    lr_scheduler: Literal["cosine", "linear", "constant"] = Field("cosine",
                                                                   description="LR schedule.")
    max_grad_norm: float = Field(0.3, gt=0, description="Gradient clipping.")
    save_steps: int = Field(50, ge=1, description="Checkpoint every N steps (resume point).")
    eval_steps: int = Field(50, ge=1, description="Validate every N steps.")
    logging_steps: int = Field(5, ge=1, description="Log loss every N steps.")
    save_total_limit: int = Field(3, ge=1, description="Checkpoints kept (the best one is "
                                  "always kept).")
    optim: Literal["adamw_torch", "adamw_8bit", "paged_adamw_8bit"] = Field(
        "adamw_torch", description="Optimizer; the 8-bit ones (bitsandbytes, CUDA) save memory.")
    packing: bool = Field(False, description="Pack several short examples into one sequence "
                          "of max_length (faster when examples are short; no per-example weights).")


class EvaluationSpec(_Model):
    """How the trained student is scored. Selection never looks at the test split."""

    split: Literal["validation", "test"] = Field("test", description="Split to report on.")
    samples: int = Field(1, ge=1, description="Samples per item (n in pass@k).")
    k: list[int] = Field(default_factory=lambda: [1], description="k values for pass@k / solve@k.")
    limit: int | None = Field(None, gt=0, description="Evaluate only the first N items.")
    temperature: float = Field(0.0, ge=0, le=2, description="Sampling temperature (0 = greedy).")
    max_new_tokens: int = Field(512, gt=0, description="Longest student answer.")

    @model_validator(mode="after")
    def _check(self) -> EvaluationSpec:
        if any(k < 1 or k > self.samples for k in self.k):
            raise ValueError(f"every k must be between 1 and samples ({self.samples})")
        return self


class Recipe(_Model):
    """One experiment: a paradigm, its data, models and stage parameters."""

    schema_version: int = Field(..., description=f"Recipe format version; this Distillab "
                                f"reads {SCHEMA_VERSION}.")
    name: str = Field(..., min_length=1, description="A short name for runs of this recipe.")
    description: str = Field("", description="What this recipe is for.")
    paradigm: str = Field(..., description="Which paradigm's stages to run.")
    seed: int = Field(0, description="Seed for splits, sampling and training.")
    dataset: DatasetSpec = Field(..., description="The data set.")
    teacher: TeacherSpec = Field(default_factory=TeacherSpec, description="The teacher model.")
    student: StudentSpec = Field(default_factory=StudentSpec, description="The student model.")
    training: TrainingSpec = Field(default_factory=TrainingSpec, description="Training settings.")
    evaluation: EvaluationSpec = Field(default_factory=EvaluationSpec,
                                       description="Evaluation settings.")
    stages: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per-stage parameters, by stage name.")

    @model_validator(mode="after")
    def _check(self) -> Recipe:
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(f"schema_version {self.schema_version} is not supported; this "
                             f"Distillab reads schema_version {SCHEMA_VERSION}")
        return self


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a recipe."""

    file: str
    line: int | None
    field: str
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        return f"{text}\n    fix: {self.fix}" if self.fix else text


class RecipeError(DistillabError):
    """A recipe with problems; ``problems`` lists all of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        head = f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in the recipe"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in problems))

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class LoadedRecipe:
    """A valid recipe with its source text and resolved stage parameters."""

    recipe: Recipe
    text: str
    source: str
    base_dir: Path | None
    stage_params: dict[str, BaseModel]


def line_of(node: yaml.Node | None, loc: tuple[str | int, ...]) -> int | None:
    """The 1-based line of the YAML node at ``loc``, or of its deepest existing parent."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == part:
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) \
                and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def _description(model: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    """The help text of the field at ``loc`` (walking nested models), or ''."""
    current: Any = model
    text = ""
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            break
        info = fields[part]
        text = info.description or ""
        current = info.annotation
    return text


def _fix_for(err: Mapping[str, Any], model: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        parent: Any = model
        for part in loc[:-1]:
            fields = getattr(parent, "model_fields", {})
            parent = fields[part].annotation if part in fields else None
        allowed = ", ".join(getattr(parent, "model_fields", {})) or "see the docs"
        return f"remove it or fix its spelling; allowed here: {allowed}"
    help_text = _description(model, loc)
    if kind == "missing":
        return f"add `{loc[-1]}:` ({help_text})" if help_text else f"add `{loc[-1]}:`"
    return help_text


def problems_from(exc: ValidationError, model: type[BaseModel], root: yaml.Node | None,
              source: str, prefix: tuple[str | int, ...] = ()) -> list[Problem]:
    out = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        message = err["msg"].removeprefix("Value error, ")
        out.append(Problem(source, line_of(root, prefix + loc),
                           ".".join(str(p) for p in prefix + loc), message,
                           _fix_for(err, model, loc)))
    return out


def read_document(text: str, source: str = "<recipe>") -> tuple[dict[str, Any], yaml.Node | None]:
    """The YAML mapping of a recipe (or study) and its node tree (for line numbers); raises
    RecipeError when the text is not YAML or not a mapping."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise RecipeError([Problem(source, line, "", f"not valid YAML: "
                                   f"{getattr(exc, 'problem', exc)}",
                                   "check indentation and quoting near that line")]) from None
    if not isinstance(data, dict):
        raise RecipeError([Problem(source, 1, "", "a recipe must be a YAML mapping",
                                   "start from one of the recipes in recipes/")])
    return data, root


def check_recipe(data: dict[str, Any], root: yaml.Node | None,
                 source: str = "<recipe>") -> tuple[Recipe | None, list[Problem]]:
    """The recipe's own models (not its stage parameters, which the paradigm table checks:
    ``engine.validate``); every problem found, none raised."""
    try:
        return Recipe.model_validate(data), []
    except ValidationError as exc:
        return None, problems_from(exc, Recipe, root, source)


def apply_overrides(text: str, overrides: list[str], source: str = "<recipe>") -> str:
    """Recipe text with ``key.path=value`` overrides applied (values parsed as YAML).

    The result is what the run stores as its recipe snapshot, so it records exactly what
    ran; comments of the original are not kept, a header names the overrides instead.
    """
    if not overrides:
        return text
    data = yaml.safe_load(text)
    problems = []
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            problems.append(Problem(source, None, item, "an override must look like "
                                    "key.path=value", "e.g. --set dataset.limit=10"))
            continue
        node = data
        parts = key.strip().split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = yaml.safe_load(raw)
    if problems:
        raise RecipeError(problems)
    header = f"# {source} with overrides: {' '.join(overrides)}\n"
    return header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def read_recipe_text(path: str | Path, overrides: list[str] | None = None) -> str:
    """A recipe file's text with optional ``key.path=value`` overrides applied."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RecipeError([Problem(str(p), None, "", f"cannot read the recipe: {exc.strerror}",
                                   "check the path")]) from None
    return apply_overrides(text, overrides or [], str(p))
