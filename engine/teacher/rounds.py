"""Bookkeeping of one ``Teacher.chat_many`` call (a round of requests), apart from HTTP.

``Round`` is what the round's requests share: the run's budget, against which every
request is reserved before it is sent and settled when it returns (``admit``, ``settle``:
the requests in flight count, engine/teacher/budget.py), and whether the round has stopped
(budget spent, or cancelled: ``halted``). ``Outcome`` is what one request's HTTP calls
brought back. ``raise_first_distillab_error`` unwraps a task group's errors so the user
reads the message, not a group's traceback. Knows nothing of HTTP or of the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from engine.errors import DistillabError
from engine.teacher.budget import Budget
from engine.teacher.types import CallError, Completion, Result

StopCheck = Callable[[], bool]


@dataclass
class Round:
    """Shared state of one ``chat_many`` call."""

    budget: Budget
    should_stop: StopCheck | None
    budget_hit: bool = False
    cancelled: bool = False
    in_flight: int = 0  # requests reserved against the budget and not yet settled
    # set (and replaced) whenever a request settles; requests waiting for room wait on it
    settled: asyncio.Event = field(default_factory=asyncio.Event)

    def halted(self) -> bool:
        if self.budget.exhausted():
            self.budget_hit = True
        if self.should_stop is not None and self.should_stop():
            self.cancelled = True
        return self.budget_hit or self.cancelled

    async def admit(self, held: tuple[int, float]) -> bool:
        """Reserve ``held`` (tokens, USD) for a request about to be sent, waiting while the
        requests in flight fill the cap; False: do not send (budget spent, or cancelled)."""
        while not (self.in_flight == 0 or self.budget.admits()):
            if self.halted():
                return False
            settled = self.settled
            await settled.wait()
        if self.halted():
            return False
        self.budget.reserve(*held)
        self.in_flight += 1
        return True

    def settle(self, held: tuple[int, float], tokens: int, usd: float | None) -> None:
        self.budget.settle(held, tokens, usd)
        self.in_flight -= 1
        if self.in_flight == 0:  # no float dust left behind
            self.budget.reserved_tokens, self.budget.reserved_usd = 0, 0.0
        self.settled.set()
        self.settled = asyncio.Event()


@dataclass
class Outcome:
    """What the HTTP calls for (some samples of) one request brought back."""

    completions: dict[int, Completion] = field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0
    error: CallError | None = None
    stopped: bool = False


def stopped(result: Result) -> bool:
    """Was ``result`` never sent because the round stopped (budget or cancel)?"""
    return result.error is not None and result.error.kind == "stopped"


def raise_first_distillab_error(grouped: BaseExceptionGroup[BaseException]) -> None:
    """Raise the first ``DistillabError`` among a task group's errors (nested groups
    included), so the user reads its message rather than a group's traceback."""
    for exc in grouped.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            raise_first_distillab_error(exc)
        elif isinstance(exc, DistillabError):
            raise exc from None
