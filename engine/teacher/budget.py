"""The per-run teacher budget: a cap in tokens and/or USD, counted from ``teacher_calls``.

Spending is read from the database (so it survives kill and resume) and then counted in
memory as calls return. The cap in force is the run's own copy of the teacher settings
(``runs.teacher``, written from the recipe when the run was created); ``raise_budget``
changes that copy, which is how a stopped run is resumed with a larger cap::

    distillab teacher budget 7 --max-usd 20 && distillab resume 7

Spending is what the run *paid* (its calls; answers from the cache are free). Each request
is *reserved* before it is sent: its estimated tokens (prompt characters / 4 + max_tokens
x samples, as the rate limiter counts them) and their price are counted as spent while it
is in flight, and *settled* to what the endpoint reports when it returns (to 0 if it
failed). A request is sent only while spent + reserved is below the cap; otherwise it waits
for a request in flight to settle, and the batch stops once spent alone reaches the cap.
So the cap is crossed at most by the last request let through: when no answer is longer
than its reservation, spent < cap + that request's reservation (with every request costing
exactly its reservation, spent ends at the first multiple of it at or above the cap).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.errors import DistillabError
from engine.recipes import BudgetSpec
from engine.store import Store, from_json, runs
from engine.store import calls as call_rows


def run_budget(store: Store, run_id: int, fallback: BudgetSpec) -> BudgetSpec:
    """The cap for ``run_id``: its stored teacher settings' budget, else ``fallback``."""
    row = store.one("SELECT teacher FROM runs WHERE id = ?", (run_id,))
    teacher = from_json(row[0]) if row is not None and row[0] else None
    if isinstance(teacher, dict) and isinstance(teacher.get("budget"), dict):
        return BudgetSpec.model_validate(teacher["budget"])
    return fallback


def raise_budget(store: Store, run_id: int, *, max_tokens: int | None = None,
                 max_usd: float | None = None) -> BudgetSpec:
    """Set a run's cap (None leaves a limit as it is); returns the new cap."""
    run = runs.get_run(store, run_id)
    row = store.one("SELECT teacher FROM runs WHERE id = ?", (run_id,))
    teacher = (from_json(row[0]) if row is not None and row[0] else None) or {}
    budget = dict(teacher.get("budget") or {})
    if max_tokens is None and max_usd is None:
        raise DistillabError("give --max-tokens or --max-usd", "e.g. --max-usd 20")
    if max_tokens is not None:
        budget["max_tokens"] = max_tokens
    if max_usd is not None:
        budget["max_usd"] = max_usd
    spec = BudgetSpec.model_validate(budget)
    runs.set_run(store, run.id, teacher={**teacher, "budget": spec.model_dump()})
    return spec


@dataclass
class Budget:
    """Spending of one run against its cap, kept current as calls are recorded."""

    cap: BudgetSpec
    run_id: int | None
    tokens: int = 0  # paid, settled
    usd: float = 0.0
    reserved_tokens: int = 0  # of the requests in flight
    reserved_usd: float = 0.0

    @classmethod
    def load(cls, store: Store | None, run_id: int | None, cap: BudgetSpec) -> Budget:
        if store is None or run_id is None:
            return cls(BudgetSpec(), run_id)
        spent = call_rows.totals(store, run_id)
        return cls(run_budget(store, run_id, cap), run_id, spent.tokens, spent.cost_usd)

    @property
    def limited(self) -> bool:
        return self.cap.max_tokens is not None or self.cap.max_usd is not None

    def add(self, tokens: int, usd: float | None) -> None:
        self.tokens += tokens
        self.usd += usd or 0.0

    def admits(self) -> bool:
        """Whether one more request may be sent: spent + reserved below every cap."""
        return (self.cap.max_tokens is None
                or self.tokens + self.reserved_tokens < self.cap.max_tokens) and \
            (self.cap.max_usd is None or self.usd + self.reserved_usd < self.cap.max_usd)

    def reserve(self, tokens: int, usd: float) -> None:
        self.reserved_tokens += tokens
        self.reserved_usd += usd

    def settle(self, reserved: tuple[int, float], tokens: int, usd: float | None) -> None:
        """A reserved request came back: drop its reservation and count what it cost."""
        self.reserved_tokens -= reserved[0]
        self.reserved_usd -= reserved[1]
        self.add(tokens, usd)

    def exhausted(self) -> bool:
        return (self.cap.max_tokens is not None and self.tokens >= self.cap.max_tokens) or \
            (self.cap.max_usd is not None and self.usd >= self.cap.max_usd)

    def stop_message(self) -> tuple[str, str]:
        """(message, hint) for a stop: what was spent, and how to go on with a larger cap."""
        used = f"{self.tokens:,} tokens, ${self.usd:.4f}"
        caps = ", ".join(p for p in (
            f"max_tokens {self.cap.max_tokens:,}" if self.cap.max_tokens is not None else "",
            f"max_usd ${self.cap.max_usd:g}" if self.cap.max_usd is not None else "") if p)
        run = self.run_id if self.run_id is not None else "RUN_ID"
        flag = (f"--max-usd {2 * (self.cap.max_usd or 0):g}" if self.cap.max_usd is not None
                and self.usd >= self.cap.max_usd else
                f"--max-tokens {2 * (self.cap.max_tokens or 0)}")
        return (f"teacher budget reached for run {run}: paid {used} (cap: {caps}); "
                "everything finished so far is kept",
                f"raise the cap and resume: `distillab teacher budget {run} {flag}` then "
                f"`distillab resume {run}`")
