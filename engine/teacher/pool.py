"""A pool of teacher endpoints: several vLLM / SGLang servers of one model behind one Teacher.

A recipe's ``teacher.endpoints: [{base_url, weight, model}]`` makes ``open_teacher`` build an
``EndpointPool``; ``Teacher._call`` asks it for a server per attempt (``pick``):

- **balancing**: the server with the fewest requests outstanding per unit of weight
  (``(outstanding + 1) / weight``); ties go to the heavier server, then to the one that
  has been sent fewer requests, so an idle pool is filled round-robin;
- **failover**: a server that refused the connection, dropped it, answered 5xx or timed out
  is left out for ``teacher.endpoint_down_s`` seconds (``mark_down``) and the request is
  sent at once to another server; when every server is down the request waits for the first
  to come back (``wait_s``);
- **figures**: per server, the requests sent, failures, tokens and seconds spent
  (``figures``); the audit rows (``teacher_calls.endpoint``) name the server that answered
  or failed, so ``engine.store.calls.by_endpoint`` gives the same figures for a stored run.

The cache does not depend on which server answered: a pool's cache keys name the pool
(``identity``: ``pool:`` and its sorted URLs), so an answer is never asked for (or paid
for) again because another server of the pool is asked the second time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import openai

    from engine.teacher.lean import LeanChat

# Failure kinds (engine.teacher.errors) that say the *server* is in trouble, not the request.
FAILOVER_KINDS = frozenset({"unreachable", "connection", "server_error", "timeout"})


@dataclass
class Member:
    """One server of the pool, its load now and its figures so far."""

    base_url: str
    model: str
    weight: float
    key: str
    outstanding: int = 0  # requests sent to it and not yet back
    down_until: float = 0.0  # time.monotonic() before which it is left out
    requests: int = 0  # attempts sent
    failures: int = 0  # attempts that failed (any kind)
    downs: int = 0  # times it was left out
    tokens: int = 0  # tokens in + out of its answers
    latency_s: float = 0.0  # seconds spent on its attempts
    # the clients of the running event loop (engine/teacher/clients.py builds them)
    client: openai.AsyncOpenAI | None = field(default=None, repr=False)
    lean: LeanChat | None = field(default=None, repr=False)

    def up(self, now: float) -> bool:
        return now >= self.down_until


class EndpointPool:
    """Servers of one model; see the module doc."""

    def __init__(self, members: list[Member], down_s: float) -> None:
        if not members:
            raise ValueError("an endpoint pool needs at least one server")
        self.members = members
        self.down_s = down_s

    @property
    def identity(self) -> str:
        """What cache keys name as the endpoint: the pool, not the server that answered."""
        return "pool:" + ",".join(sorted(m.base_url for m in self.members))

    def pick(self) -> Member | None:
        """The server the next attempt goes to; None when every server is down."""
        now = time.monotonic()
        up = [m for m in self.members if m.up(now)]
        if not up:
            return None
        return min(up, key=lambda m: ((m.outstanding + 1) / m.weight, -m.weight, m.requests))

    def wait_s(self) -> float:
        """Seconds until the first server that is down comes back (0 if one is up)."""
        now = time.monotonic()
        return max(0.0, min(m.down_until for m in self.members) - now)

    def begin(self, member: Member) -> float:
        """An attempt is sent to ``member``; returns its start time (for ``end``)."""
        member.outstanding += 1
        member.requests += 1
        return time.perf_counter()

    def end(self, member: Member, started: float, *, tokens: int = 0,
            failure_kind: str | None = None) -> bool:
        """The attempt came back; True when the failure took the server out of the pool
        (the request should go to another server at once)."""
        member.outstanding -= 1
        member.latency_s += time.perf_counter() - started
        member.tokens += tokens
        if failure_kind is None:
            return False
        member.failures += 1
        if failure_kind not in FAILOVER_KINDS:
            return False
        if member.up(time.monotonic()):
            member.downs += 1
        member.down_until = time.monotonic() + self.down_s
        return True

    def any_up(self) -> bool:
        now = time.monotonic()
        return any(m.up(now) for m in self.members)

    def figures(self) -> dict[str, dict[str, Any]]:
        """Per server: requests, failures, times left out, tokens, seconds, mean latency."""
        return {m.base_url: {"requests": m.requests, "failures": m.failures, "downs": m.downs,
                             "tokens": m.tokens, "latency_s": round(m.latency_s, 4),
                             "mean_latency_s": round(m.latency_s / m.requests, 4)
                             if m.requests else 0.0}
                for m in self.members}

    def summary(self) -> str:
        """One line per server for a log."""
        return "; ".join(f"{url}: {f['requests']} requests, {f['failures']} failed, "
                         f"{f['tokens']} tokens, {f['mean_latency_s']:.3f} s mean"
                         for url, f in self.figures().items())
