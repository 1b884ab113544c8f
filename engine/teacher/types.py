"""What a stage asks the teacher (``Request``) and what it gets back (``Result``).

Plain frozen dataclasses, no model library: a paradigm builds ``Request`` objects, hands
them to ``Teacher.chat_many`` and reads ``Result`` objects. A failed request is a
``Result`` whose ``error`` is a ``CallError`` (the stage flags that item); only errors no
item can get past (wrong key, unknown model, unreachable host) raise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Request:
    """One chat request for ``n`` samples. ``None`` sampling values take the recipe's."""

    messages: list[dict[str, Any]]
    n: int = 1
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: list[str] | str | None = None
    seed: int | None = None
    logprobs: bool = False
    top_logprobs: int | None = None
    # Extra body fields for the endpoint (e.g. {"chat_template_kwargs": {...}}); part of the key.
    extra: dict[str, Any] | None = None
    # The caller's own label (item id...): carried to the Result, not part of the cache key.
    tag: Any = None

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"Request.n must be >= 1, got {self.n}")
        if not self.messages:
            raise ValueError("Request.messages is empty")


@dataclass(frozen=True)
class Completion:
    """One sample: the answer text, why it ended, the reasoning channel if the model has one."""

    text: str
    finish_reason: str | None
    sample_index: int
    reasoning_content: str | None = None
    logprobs: list[dict[str, Any]] | None = None  # OpenAI's logprobs.content list
    cached: bool = False


@dataclass(frozen=True)
class CallError:
    """Why a request failed after its retries; ``kind`` is one of ``ERROR_KINDS``."""

    kind: str
    message: str
    status: int | None = None
    attempts: int = 1

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass(frozen=True)
class Result:
    """The outcome of one ``Request``: its samples in index order, usage, cost, error."""

    request: Request
    completions: list[Completion] = field(default_factory=list)
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0  # paid by this call; 0 for samples served from the cache
    error: CallError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and len(self.completions) == self.request.n

    @property
    def cached(self) -> bool:
        """True when every sample came from the cache (nothing was sent)."""
        return bool(self.completions) and all(c.cached for c in self.completions)

    @property
    def text(self) -> str:
        """The first sample's text ('' when there is none)."""
        return self.completions[0].text if self.completions else ""

    @property
    def tag(self) -> Any:
        return self.request.tag


@dataclass(frozen=True)
class Delta:
    """A piece of a streamed answer (``Teacher.stream``)."""

    text: str = ""
    reasoning: str = ""
    finish_reason: str | None = None
