"""Turning what goes wrong with a teacher endpoint into retry decisions and clear messages.

``classify`` maps an exception from the ``openai`` package (or our own response checks)
to a ``Failure``: retry it (429, 5xx, timeouts, dropped connections, malformed bodies),
report it for this item only (context too long, content filtered, other 4xx), or stop
the job (wrong key, unknown model, unreachable host, no credit), which raises
``TeacherError`` naming the endpoint and the fix.
"""

from __future__ import annotations

import email.utils
import json
import time
from dataclasses import dataclass
from typing import Any

from engine.errors import DistillabError, StopRun

# Every CallError/TeacherError kind, with what the user can do about it.
HINTS: dict[str, str] = {
    "auth": "check the API key: set the environment variable named in teacher.api_key_env "
            "(or store it with `distillab teacher set-key --endpoint URL`)",
    "forbidden": "the key is valid but may not use this model or endpoint; check the "
                 "account's permissions",
    "not_found": "check teacher.model (`distillab teacher check --endpoint URL --model M` "
                 "lists the models) and that teacher.base_url ends in /v1",
    "unreachable": "check teacher.base_url and that the server is running "
                   "(`distillab teacher check --endpoint URL --model M`)",
    "quota": "the account has no credit left; add credit or use another endpoint",
    "rate_limited": "lower teacher.concurrency or set teacher.requests_per_minute",
    "server_error": "the endpoint failed repeatedly; try again later (resume skips finished work)",
    "timeout": "raise teacher.timeout_s, lower teacher.max_tokens, or lower teacher.concurrency",
    "connection": "the connection dropped repeatedly; check the network or the server's log",
    "malformed": "the endpoint answered with something that is not an OpenAI chat completion; "
                 "check teacher.base_url points at an OpenAI-compatible /v1 API",
    "context_too_long": "shorten the prompt or lower max_tokens (it counts against the "
                        "context), or pick a model with a longer context",
    "content_filtered": "the endpoint's content filter refused this item; rephrase the "
                        "prompt or skip the item",
    "bad_request": "the endpoint rejected the request parameters; "
                   "`distillab teacher check` shows what it supports",
}
FATAL_KINDS = frozenset({"auth", "forbidden", "not_found", "unreachable", "quota"})
RETRYABLE_KINDS = frozenset({"rate_limited", "server_error", "timeout", "connection",
                             "malformed", "unreachable"})
# A Retry-After longer than this is not waited for in one go (the request is retried later).
MAX_RETRY_AFTER_S = 120.0


class TeacherError(DistillabError):
    """A teacher problem no retry fixes; names the endpoint, ``kind`` says which."""

    def __init__(self, kind: str, endpoint: str, message: str, hint: str = "") -> None:
        super().__init__(f"teacher endpoint {endpoint}: {message}", hint or HINTS.get(kind, ""))
        self.kind = kind
        self.endpoint = endpoint


class BudgetExhausted(StopRun):
    """The run's teacher budget is spent; ``results`` holds what finished (None = not sent)."""

    def __init__(self, message: str, hint: str, results: list[Any] | None = None) -> None:
        super().__init__(message, hint)
        self.results = results or []


class MalformedResponse(Exception):
    """A 200 answer that is not a usable chat completion."""


@dataclass(frozen=True)
class Failure:
    kind: str
    message: str
    status: int | None = None
    retry_after_s: float | None = None

    @property
    def fatal(self) -> bool:
        return self.kind in FATAL_KINDS

    @property
    def retryable(self) -> bool:
        return self.kind in RETRYABLE_KINDS


def retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date), if any."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) / scale)
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value) if name == "retry-after" else None
            if parsed is not None:
                return max(0.0, parsed.timestamp() - time.time())
    return None


def _body_message(body: Any, fallback: str) -> tuple[str, str]:
    """(message, code) from an OpenAI-style error body."""
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict):
            return str(inner.get("message") or inner.get("detail") or fallback), \
                str(inner.get("code") or "")
        if isinstance(inner, str):
            return inner, ""
        detail = body.get("detail")
        if detail:
            return json.dumps(detail)[:300] if not isinstance(detail, str) else detail, ""
    return fallback, ""


def _is_context(message: str, code: str) -> bool:
    text = message.lower()
    return code == "context_length_exceeded" or (
        "context" in text and any(w in text for w in ("length", "window", "too long", "exceed")))


def classify(exc: BaseException) -> Failure:
    """What kind of failure ``exc`` is (an ``openai`` exception or ``MalformedResponse``)."""
    import openai

    if isinstance(exc, MalformedResponse | json.JSONDecodeError | openai.APIResponseValidationError):
        return Failure("malformed", f"malformed response: {exc}"[:500])
    if isinstance(exc, openai.APITimeoutError):
        return Failure("timeout", "the request timed out")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        name = type(cause).__name__ if cause is not None else ""
        if name == "ConnectError":
            return Failure("unreachable", f"cannot connect ({cause})")
        return Failure("connection", f"the connection failed ({name or exc})")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        message, code = _body_message(exc.body, str(exc.message))
        wait = retry_after(exc.response.headers)
        if status == 401:
            return Failure("auth", f"the API key was refused (401): {message}", status)
        if status == 403:
            return Failure("forbidden", f"access denied (403): {message}", status)
        if status == 404:
            return Failure("not_found", f"not found (404): {message}", status)
        if status == 429:
            if code == "insufficient_quota":
                return Failure("quota", f"no credit left (429): {message}", status)
            return Failure("rate_limited", f"rate limited (429): {message}", status, wait)
        if status in (408, 409) or status >= 500:
            return Failure("server_error", f"server error ({status}): {message}", status, wait)
        if _is_context(message, code):
            return Failure("context_too_long", f"the prompt is too long ({status}): {message}",
                           status)
        if code in ("content_filter", "content_policy_violation"):
            return Failure("content_filtered", f"refused by the content filter: {message}", status)
        return Failure("bad_request", f"request rejected ({status}): {message}", status)
    if isinstance(exc, ValueError):  # a body that is not JSON, parsed by us
        return Failure("malformed", f"malformed response: {exc}"[:500])
    raise exc
