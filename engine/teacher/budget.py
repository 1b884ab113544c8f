"""The per-run teacher budget: a cap in tokens and/or USD, counted from ``teacher_calls``.

Spending is read from the database (so it survives kill and resume) and then counted in
memory as calls return. The cap in force is the run's own copy of the teacher settings
(``runs.teacher``, written from the recipe when the run was created); ``raise_budget``
changes that copy, which is how a stopped run is resumed with a larger cap::

    distillab teacher budget 7 --max-usd 20 && distillab resume 7

The check happens before each request is sent, so a run can overshoot its cap by at most
the requests already in flight (``teacher.concurrency``).
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
    tokens: int = 0
    usd: float = 0.0

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
        return (f"teacher budget reached for run {run}: used {used} (cap: {caps}); "
                "everything finished so far is kept",
                f"raise the cap and resume: `distillab teacher budget {run} {flag}` then "
                f"`distillab resume {run}`")
