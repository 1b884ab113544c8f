"""The JSON of one chat completion call: the body a Teacher sends, and what it reads back.

``request_body`` turns a request's sampling parameters (``cache.sampling_params``) into the
body of ``POST /chat/completions`` for some of its samples (``n``, a per-sample seed);
``parse_choices`` checks an answer and returns its choices in order; ``token_count`` makes a
server's usage figure a sane int. Used by ``Teacher`` (engine/teacher/client.py) and by
batch jobs (engine/teacher/batch.py), whose input lines are the same bodies. Knows nothing
of HTTP, the cache or the database.
"""

from __future__ import annotations

from typing import Any

from engine.teacher.errors import MalformedResponse
from engine.teacher.types import Request


def request_body(model: str, request: Request, params: dict[str, Any], indices: list[int]) -> dict[str, Any]:
    """The body that asks ``model`` for the samples ``indices`` of ``request``."""
    body: dict[str, Any] = {
        "model": model,
        "messages": request.messages,
        "temperature": params["temperature"],
        "max_tokens": params["max_tokens"],
    }
    if len(indices) > 1:
        body["n"] = len(indices)
    for name in ("top_p", "stop", "logprobs", "top_logprobs"):
        if params[name] not in (None, False):
            body[name] = params[name]
    if params["seed"] is not None:
        # Sample i sent alone (an endpoint that ignores n) gets seed+i, or all samples
        # of a seeded request would be the same text.
        body["seed"] = params["seed"] + (indices[0] if len(indices) == 1 else 0)
    if params["extra"]:
        body.update(params["extra"])
    return body


def parse_choices(data: Any) -> list[dict[str, Any]]:
    """The choices of a chat completion body, sorted by index; raises if it is not one."""
    if not isinstance(data, dict):
        raise MalformedResponse(f"expected a JSON object, got {type(data).__name__}")
    if "error" in data and not data.get("choices"):
        raise MalformedResponse(f"error in a 200 answer: {str(data['error'])[:300]}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise MalformedResponse("no choices in the answer")
    for choice in choices:
        if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
            raise MalformedResponse("a choice without a message")
        content = choice["message"].get("content")
        if content is not None and not isinstance(content, str):
            raise MalformedResponse("a message whose content is not text")
    return sorted(choices, key=lambda c: int(c.get("index") or 0))


def token_count(value: Any) -> int:
    """A token count from the server's usage, as a sane int (SQLite stores up to 2**63)."""
    try:
        return min(max(int(value or 0), 0), 2**53)
    except (TypeError, ValueError):
        return 0
