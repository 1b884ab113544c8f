"""Cache keys for teacher calls, and turning stored rows back into completions.

The key is a SHA-256 of canonical JSON of (endpoint, model, messages, sampling
parameters, sample index). The endpoint is the base URL, or for the embedded teacher
``embedded:<file>@<sha256 prefix>`` (its port changes every start; its model file is what
matters). Sample ``i`` of a request is cached on its own, so asking for 8 samples where 4
are cached sends a request for the other 4 only.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from engine.store.calls import CachedCall
from engine.teacher.types import Completion, Request


def sampling_params(request: Request, *, temperature: float, max_tokens: int) -> dict[str, Any]:
    """The request's sampling parameters with the recipe's defaults filled in."""
    stop = [request.stop] if isinstance(request.stop, str) else request.stop
    return {
        "temperature": request.temperature if request.temperature is not None else temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_tokens if request.max_tokens is not None else max_tokens,
        "stop": stop or None,
        "seed": request.seed,
        "logprobs": request.logprobs,
        "top_logprobs": request.top_logprobs if request.logprobs else None,
        "extra": request.extra or None,
    }


def cache_key(endpoint: str, model: str, messages: list[dict[str, Any]],
              params: dict[str, Any], sample_index: int) -> str:
    blob = json.dumps({"endpoint": endpoint, "model": model, "messages": messages,
                       "params": params, "sample": sample_index},
                      sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def plan(request: Request, *, endpoint: str, model: str, temperature: float,
         max_tokens: int) -> tuple[dict[str, Any], list[str]]:
    """The request's sampling parameters (the recipe's defaults filled in) and the cache
    key of each of its samples."""
    params = sampling_params(request, temperature=temperature, max_tokens=max_tokens)
    keys = [cache_key(endpoint, model, request.messages, params, i) for i in range(request.n)]
    return params, keys


def choice_record(choice: dict[str, Any]) -> dict[str, Any]:
    """What we keep of one returned choice (the ``response`` JSON of its row)."""
    message = choice.get("message") or {}
    logprobs = choice.get("logprobs")
    return {
        "text": message.get("content") or "",
        "finish_reason": choice.get("finish_reason"),
        "reasoning_content": message.get("reasoning_content") or message.get("reasoning"),
        "logprobs": logprobs.get("content") if isinstance(logprobs, dict) else None,
    }


def completion(record: dict[str, Any], sample_index: int, cached: bool) -> Completion:
    return Completion(text=str(record.get("text") or ""),
                      finish_reason=record.get("finish_reason"), sample_index=sample_index,
                      reasoning_content=record.get("reasoning_content"),
                      logprobs=record.get("logprobs"), cached=cached)


def from_cache(hit: CachedCall, sample_index: int) -> Completion:
    return completion(hit.response, sample_index, cached=True)

