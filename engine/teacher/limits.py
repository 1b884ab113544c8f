"""Requests-per-minute and tokens-per-minute limits for one endpoint (asyncio).

RPM spaces request starts evenly (60/rpm seconds apart), so a burst never trips the
endpoint's own limiter. TPM keeps a 60-second window of estimated tokens (prompt
characters / 4 + max_tokens * n, the usual rough count) and waits until a request fits.
A 429's Retry-After pauses every request of the endpoint (``pause``), not just the one
that got it: the limit is shared.
"""

from __future__ import annotations

import asyncio
import collections
import time

WINDOW_S = 60.0


class RateLimiter:
    def __init__(self, requests_per_minute: int | None = None,
                 tokens_per_minute: int | None = None) -> None:
        self.interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self.tpm = tokens_per_minute
        self._next_start = 0.0
        self._window: collections.deque[tuple[float, int]] = collections.deque()
        self._window_tokens = 0
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` (a Retry-After from the endpoint)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def acquire(self, tokens: int) -> None:
        while True:
            now = time.monotonic()
            wait = self._paused_until - now
            if self.interval:
                wait = max(wait, self._next_start - now)
            if self.tpm:
                while self._window and self._window[0][0] <= now - WINDOW_S:
                    self._window_tokens -= self._window.popleft()[1]
                # A single request larger than the whole limit goes alone into an empty window.
                if self._window and self._window_tokens + tokens > self.tpm:
                    wait = max(wait, self._window[0][0] + WINDOW_S - now)
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        if self.interval:
            self._next_start = max(self._next_start, time.monotonic()) + self.interval
        if self.tpm:
            self._window.append((time.monotonic(), tokens))
            self._window_tokens += tokens


def estimate_split(messages: list[dict[str, object]], max_tokens: int,
                   n: int) -> tuple[int, int]:
    """(prompt, completion) tokens a request may use: prompt characters / 4, max_tokens x n."""
    chars = sum(len(str(m.get("content", ""))) for m in messages)
    return chars // 4, max_tokens * n


def estimate_tokens(messages: list[dict[str, object]], max_tokens: int, n: int) -> int:
    return sum(estimate_split(messages, max_tokens, n))
