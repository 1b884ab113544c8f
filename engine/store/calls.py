"""Typed access to ``teacher_calls``: the teacher's response cache and audit log.

One row per returned sample (its ``cache_key`` hashes endpoint, model, messages,
sampling parameters and sample index) and one per failed attempt (``error`` set, no
tokens). A call's prompt tokens, latency and cost are on its first sample's row, so
sums over rows are exact. Only rows without an error serve as cache hits. Totals per
run and per stage feed the budget and ``distillab show``.

A run's rows are what it *paid* for. What it *used* adds the answers it took from the
cache (``teacher_reuse``: rows paid by another run, or outside any run) and those of
stages a study copied from another run. ``accounting`` gives both; the budget counts paid.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from engine.store.db import Store, from_json, now

# SQLite's default limit on ``?`` parameters is 32766; stay far below it.
_CHUNK = 500


@dataclass(frozen=True)
class CachedCall:
    id: int
    run_id: int | None
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
            "SELECT id, run_id, cache_key, response, tokens_in, tokens_out, latency_s, cost_usd "
            f"FROM teacher_calls WHERE error IS NULL AND cache_key IN "
            f"({', '.join('?' for _ in chunk)}) ORDER BY id", chunk)
        for r in rows:
            found[r[2]] = CachedCall(int(r[0]), r[1], r[2], from_json(r[3]) or {},
                                     int(r[4] or 0), int(r[5] or 0), float(r[6] or 0.0),
                                     None if r[7] is None else float(r[7]))
    return found


def record_reuse(store: Store, run_id: int | None, stage: str | None,
                 hits: list[CachedCall]) -> int:
    """Note that ``run_id`` used these cached answers without paying for them; returns how
    many were new. An answer counts once per run, and not at all if the run paid for the
    same cache key itself (an answer of its own, asked again on resume)."""
    if run_id is None or not hits:
        return 0
    added = 0
    stamp = now()
    with store.transaction():
        for start in range(0, len(hits), _CHUNK):
            ids = [h.id for h in hits[start:start + _CHUNK]]
            cur = store.conn.execute(
                "INSERT OR IGNORE INTO teacher_reuse (run_id, call_id, stage, created_at) "
                "SELECT ?, c.id, ?, ? FROM teacher_calls c WHERE c.id IN "
                f"({', '.join('?' for _ in ids)}) AND NOT EXISTS (SELECT 1 FROM teacher_calls o "
                "WHERE o.run_id = ? AND o.cache_key = c.cache_key AND o.error IS NULL)",
                [run_id, stage or "", stamp, *ids, run_id])
            added += cur.rowcount
    return added


def reuse_stage_calls(store: Store, src: int, dst: int, stage: str) -> int:
    """Run ``dst`` copied ``stage`` from run ``src``: the answers that stage used (paid or
    reused by ``src``) count as used, not paid, by ``dst``. Joins an open transaction."""
    with store.transaction():
        cur = store.conn.execute(
            "INSERT OR IGNORE INTO teacher_reuse (run_id, call_id, stage, created_at) "
            "SELECT ?, id, ?, ? FROM teacher_calls WHERE run_id = ? AND stage = ? "
            "AND error IS NULL UNION SELECT ?, call_id, ?, ? FROM teacher_reuse "
            "WHERE run_id = ? AND stage = ?",
            (dst, stage, now(), src, stage, dst, stage, now(), src, stage))
    return cur.rowcount


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


@dataclass(frozen=True)
class Accounting:
    """Teacher tokens and USD a run (or one stage) used and paid.

    *Paid*: the calls it sent (its ``teacher_calls`` rows). *Used*: paid plus the answers it
    took from the cache or from a copied stage, at what they cost when they were paid for.
    """

    answers_paid: int = 0  # samples returned by calls this run sent
    answers_reused: int = 0  # samples served from the cache (or a copied stage)
    failed_attempts: int = 0  # calls that came back with an error (no tokens, no cost)
    tokens_in_paid: int = 0
    tokens_out_paid: int = 0
    usd_paid: float = 0.0
    tokens_in_reused: int = 0
    tokens_out_reused: int = 0
    usd_reused: float = 0.0

    @property
    def tokens_paid(self) -> int:
        return self.tokens_in_paid + self.tokens_out_paid

    @property
    def tokens_used(self) -> int:
        return self.tokens_paid + self.tokens_in_reused + self.tokens_out_reused

    @property
    def usd_used(self) -> float:
        return self.usd_paid + self.usd_reused

    def figures(self) -> dict[str, float]:
        """The figures by name, as shown in summaries and exports."""
        return {"teacher_answers_paid": self.answers_paid,
                "teacher_answers_reused": self.answers_reused,
                "teacher_failed_attempts": self.failed_attempts,
                "teacher_tokens_used": self.tokens_used, "teacher_tokens_paid": self.tokens_paid,
                "teacher_usd_used": self.usd_used, "teacher_usd_paid": self.usd_paid}

    def __add__(self, other: Accounting) -> Accounting:
        return Accounting(**{f.name: getattr(self, f.name) + getattr(other, f.name)
                             for f in fields(self)})


_PAID = ("SELECT stage, COUNT(*) FILTER (WHERE error IS NULL), COALESCE(SUM(tokens_in), 0), "
         "COALESCE(SUM(tokens_out), 0), COALESCE(SUM(cost_usd), 0), "
         "COUNT(*) FILTER (WHERE error IS NOT NULL) FROM teacher_calls WHERE run_id = ? "
         "GROUP BY stage ORDER BY MIN(id)")
_REUSED = ("SELECT r.stage, COUNT(*), COALESCE(SUM(c.tokens_in), 0), "
           "COALESCE(SUM(c.tokens_out), 0), COALESCE(SUM(c.cost_usd), 0) FROM teacher_reuse r "
           "JOIN teacher_calls c ON c.id = r.call_id WHERE r.run_id = ? GROUP BY r.stage "
           "ORDER BY MIN(r.rowid)")


def accounting_by_stage(store: Store, run_id: int) -> dict[str, Accounting]:
    """Used and paid per stage, stages in the order they first called the teacher."""
    out: dict[str, Accounting] = {}
    for r in store.query(_PAID, (run_id,)):
        out[str(r[0] or "")] = Accounting(
            answers_paid=int(r[1]), tokens_in_paid=int(r[2]), tokens_out_paid=int(r[3]),
            usd_paid=float(r[4]), failed_attempts=int(r[5]))
    for r in store.query(_REUSED, (run_id,)):
        reused = Accounting(answers_reused=int(r[1]), tokens_in_reused=int(r[2]),
                            tokens_out_reused=int(r[3]), usd_reused=float(r[4]))
        out[str(r[0] or "")] = out.get(str(r[0] or ""), Accounting()) + reused
    return out


def accounting(store: Store, run_id: int) -> Accounting:
    """Used and paid over the whole run."""
    return sum(accounting_by_stage(store, run_id).values(), Accounting())


def errors(store: Store, run_id: int, limit: int = 100) -> list[dict[str, Any]]:
    """The latest failed attempts of a run (for the GUI's audit view and `show`)."""
    rows = store.query("SELECT id, stage, model, error, created_at FROM teacher_calls "
                       "WHERE run_id = ? AND error IS NOT NULL ORDER BY id DESC LIMIT ?",
                       (run_id, limit))
    return [dict(r) for r in rows]


@dataclass(frozen=True)
class EndpointFigures:
    """What one server (of a pool, engine/teacher/pool.py) did for a run."""

    endpoint: str
    requests: int  # attempts sent (a call for n samples counts once)
    failures: int  # attempts that came back with an error
    answers: int  # samples returned
    tokens: int  # in + out
    latency_s: float  # summed over its attempts

    @property
    def mean_latency_s(self) -> float:
        return self.latency_s / self.requests if self.requests else 0.0


def by_endpoint(store: Store, run_id: int, stage: str | None = None) -> list[EndpointFigures]:
    """Per server that answered or failed: requests, failures, answers, tokens, seconds.

    The rows name the server itself (with a pool, the one that was asked), so this is the
    per-endpoint audit of a run that used ``teacher.endpoints``."""
    where, params = ("run_id = ?", [run_id]) if stage is None else \
        ("run_id = ? AND stage = ?", [run_id, stage])
    rows = store.query(
        "SELECT endpoint, COUNT(*) FILTER (WHERE json_extract(request, '$.same_call_as') IS "
        "NULL), COUNT(*) FILTER (WHERE error IS NOT NULL), COUNT(*) FILTER (WHERE error IS "
        "NULL), COALESCE(SUM(tokens_in + tokens_out), 0), COALESCE(SUM(latency_s), 0) "
        f"FROM teacher_calls WHERE {where} GROUP BY endpoint ORDER BY endpoint", params)
    return [EndpointFigures(str(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4]),
                            float(r[5])) for r in rows]
