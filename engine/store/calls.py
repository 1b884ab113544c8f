"""Typed access to ``teacher_calls``: the teacher's response cache and audit log.

One row per returned sample (its ``cache_key`` hashes endpoint, model, messages,
sampling parameters and sample index) and one per failed attempt (``error`` set, no
tokens). A call's prompt tokens, latency and cost are on its first sample's row, so
sums over rows are exact. Only rows without an error serve as cache hits. Totals per
run and per stage feed the budget and ``distillab show``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.store.db import Store, from_json, now

# SQLite's default limit on ``?`` parameters is 32766; stay far below it.
_CHUNK = 500


@dataclass(frozen=True)
class CachedCall:
    cache_key: str
    response: dict[str, Any]
    tokens_in: int
    tokens_out: int
    latency_s: float
    cost_usd: float | None


@dataclass(frozen=True)
class Totals:
    """What a run (or one of its stages) sent and spent."""

    calls: int = 0  # rows without error (samples returned)
    errors: int = 0  # failed attempts
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out


def row(*, cache_key: str, endpoint: str, model: str, request: Any, response: Any = None,
        run_id: int | None = None, stage: str | None = None, tokens_in: int = 0,
        tokens_out: int = 0, latency_s: float = 0.0, cost_usd: float | None = None,
        error: str | None = None) -> dict[str, Any]:
    """One ``teacher_calls`` row, ready for ``record_rows``."""
    return {"cache_key": cache_key, "run_id": run_id, "stage": stage, "endpoint": endpoint,
            "model": model, "request": request, "response": response, "tokens_in": tokens_in,
            "tokens_out": tokens_out, "latency_s": latency_s, "cost_usd": cost_usd,
            "error": error, "created_at": now()}


def record_rows(store: Store, rows: list[dict[str, Any]]) -> None:
    """Write rows made by ``row`` in one transaction (joins an open one)."""
    with store.transaction():
        for r in rows:
            store.insert("teacher_calls", r)


def lookup(store: Store, keys: list[str]) -> dict[str, CachedCall]:
    """Cached successful responses for ``keys`` (latest row per key)."""
    found: dict[str, CachedCall] = {}
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), _CHUNK):
        chunk = unique[start:start + _CHUNK]
        rows = store.query(
            "SELECT cache_key, response, tokens_in, tokens_out, latency_s, cost_usd "
            f"FROM teacher_calls WHERE error IS NULL AND cache_key IN "
            f"({', '.join('?' for _ in chunk)}) ORDER BY id", chunk)
        for r in rows:
            found[r[0]] = CachedCall(r[0], from_json(r[1]) or {}, int(r[2] or 0),
                                     int(r[3] or 0), float(r[4] or 0.0),
                                     None if r[5] is None else float(r[5]))
    return found


_SUMS = ("SELECT COUNT(*) FILTER (WHERE error IS NULL), COUNT(*) FILTER (WHERE error IS NOT NULL),"
         " COALESCE(SUM(tokens_in), 0), COALESCE(SUM(tokens_out), 0),"
         " COALESCE(SUM(cost_usd), 0), COALESCE(SUM(latency_s), 0) FROM teacher_calls ")


def _totals(row: Any) -> Totals:
    return Totals(int(row[0]), int(row[1]), int(row[2]), int(row[3]), float(row[4]),
                  float(row[5]))


def totals(store: Store, run_id: int, stage: str | None = None) -> Totals:
    """Sums over a run's calls, or one stage's."""
    if stage is None:
        row = store.one(_SUMS + "WHERE run_id = ?", (run_id,))
    else:
        row = store.one(_SUMS + "WHERE run_id = ? AND stage = ?", (run_id, stage))
    return _totals(row) if row is not None else Totals()


def totals_by_stage(store: Store, run_id: int) -> dict[str, Totals]:
    rows = store.query(
        _SUMS.replace("SELECT ", "SELECT stage, ", 1) + "WHERE run_id = ? GROUP BY stage "
        "ORDER BY MIN(id)", (run_id,))
    return {str(r[0]): _totals(tuple(r)[1:]) for r in rows}


def errors(store: Store, run_id: int, limit: int = 100) -> list[dict[str, Any]]:
    """The latest failed attempts of a run (for the GUI's audit view and `show`)."""
    rows = store.query("SELECT id, stage, model, error, created_at FROM teacher_calls "
                       "WHERE run_id = ? AND error IS NOT NULL ORDER BY id DESC LIMIT ?",
                       (run_id, limit))
    return [dict(r) for r in rows]
