"""What a Teacher writes to ``teacher_calls``: a row per failed attempt and per answered sample.

``AuditLog.failed`` and ``AuditLog.answered`` build the rows (``answered`` also counts the
answer's tokens and prices it, and returns the ``Outcome``); ``queue`` holds them until
they are written. Answers of a wave of requests arrive together; one commit per answer
would make the last of them wait for all the others' commits before its slot sends the
next request. So all rows of one event-loop tick commit together: the flush runs at the
start of the next tick (``call_soon``), and at the end of every ``chat_many`` and batch
job, so a kill loses at most the answers of the tick it hit. If the database refused a
flush, the rows are kept for the next try and the round stops with that error.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from engine.errors import DistillabError
from engine.store import calls
from engine.teacher import cache
from engine.teacher.body import token_count
from engine.teacher.errors import Failure
from engine.teacher.keys import redact
from engine.teacher.prices import Price
from engine.teacher.rounds import Outcome
from engine.teacher.types import Request

if TYPE_CHECKING:
    from engine.teacher.client import Teacher


class AuditLog:
    """The ``teacher_calls`` rows of one ``Teacher``; see the module doc."""

    def __init__(self, teacher: Teacher) -> None:
        self.teacher = teacher
        self.rows: list[dict[str, Any]] = []  # not yet written
        self.flush_scheduled = False
        self.flush_error: DistillabError | None = None  # a refused flush, raised by ``queue``

    def failed(
        self,
        key: str,
        audit: dict[str, Any],
        failure: Failure,
        attempt: int,
        latency_s: float,
        endpoint: str | None = None,
    ) -> None:
        """A failed attempt's audit row; ``endpoint``: the pool server that failed."""
        t = self.teacher
        self.queue(
            calls.row(
                cache_key=key,
                endpoint=endpoint or t.identity,
                model=t.model,
                request={**audit, "attempt": attempt},
                response={
                    "kind": failure.kind,
                    "status": failure.status,
                    "retry_after_s": failure.retry_after_s,
                    "attempt": attempt,
                },
                run_id=t.run_id,
                stage=t.stage,
                latency_s=latency_s,
                error=redact(f"{failure.kind}: {failure.message}", t._key),
            )
        )

    def answered(
        self,
        data: dict[str, Any],
        choices: list[dict[str, Any]],
        request: Request,
        keys: list[str],
        indices: list[int],
        audit: dict[str, Any],
        attempt: int,
        latency_s: float,
        endpoint: str | None = None,
        price: Price | None = None,
    ) -> Outcome:
        """Queue the audit rows of an answer (one per sample); ``endpoint``: the pool server
        that answered; ``price``: instead of the teacher's (a batch job's answers)."""
        t = self.teacher
        price = price or t.price
        if len(indices) > 1:
            t._n_ok = len(choices) >= len(indices)
        taken = list(zip(indices, choices, strict=False))
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
        records = [cache.choice_record(c) for _, c in taken]
        if usage is not None:
            tokens_in = token_count(usage.get("prompt_tokens"))
            tokens_out = token_count(usage.get("completion_tokens"))
        else:  # no usage reported: estimate (4 characters a token) so budgets still count
            tokens_in = sum(len(str(m.get("content", ""))) for m in request.messages) // 4
            tokens_out = sum(len(r["text"]) for r in records) // 4
        out = Outcome(tokens_in=tokens_in, tokens_out=tokens_out, latency_s=latency_s)
        share, rest = divmod(tokens_out, len(taken))
        meta = {"id": data.get("id"), "model": data.get("model"), "attempt": attempt}
        for j, ((index, _), record) in enumerate(zip(taken, records, strict=True)):
            t_in = tokens_in if j == 0 else 0
            t_out = share + (rest if j == 0 else 0)
            cost = price.cost(t_in, t_out) if price is not None else None
            out.cost_usd += cost or 0.0
            out.completions[index] = cache.completion(record, index, cached=False)
            first = j == 0
            self.queue(
                calls.row(
                    cache_key=keys[index],
                    endpoint=endpoint or t.identity,
                    model=t.model,
                    request={**audit, "attempt": attempt}
                    if first
                    else {"sample_index": index, "same_call_as": keys[indices[0]]},
                    response={**record, **meta, "usage": usage, "usage_estimated": usage is None}
                    if first
                    else {**record, **meta},
                    run_id=t.run_id,
                    stage=t.stage,
                    tokens_in=t_in,
                    tokens_out=t_out,
                    latency_s=latency_s if first else 0.0,
                    cost_usd=cost,
                )
            )
        return out

    def queue(self, row: dict[str, Any]) -> None:
        """Queue a ``teacher_calls`` row, to be written with the rest of this tick's; raise
        the error of a refused flush (once, to the task that queues next)."""
        if self.teacher.store is None:
            return
        self.rows.append(row)
        if not self.flush_scheduled:
            self.flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_soon)
        if self.flush_error is not None:
            error, self.flush_error = self.flush_error, None  # raised once, by this task
            raise error

    def _flush_soon(self) -> None:
        self.flush_scheduled = False
        try:
            self.flush()
        except DistillabError as exc:  # raised by the next queue, or the round's end
            self.flush_error = exc

    def flush(self) -> None:
        """Write the queued rows in one commit; if the database refuses, keep them and raise."""
        store = self.teacher.store
        rows, self.rows = self.rows, []
        if not rows or store is None:
            return
        try:
            calls.record_rows(store, rows)
        except Exception as exc:  # kept for the next try; never dropped silently
            self.rows[:0] = rows
            raise DistillabError(
                f"could not write {len(rows)} teacher answer(s) to the database {store.path}: {exc}",
                "free some disk space, or close the program that holds the database; then "
                "resume the run: answers already stored are not asked again",
            ) from exc
