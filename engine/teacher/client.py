"""The teacher client: many chat requests at once against one OpenAI-compatible endpoint.

``Teacher.chat_many`` is called from ordinary (synchronous) stage code and runs the
requests concurrently on an asyncio loop in the calling thread, with the ``openai``
package's ``AsyncOpenAI`` (its own retries off: ``_call`` below retries, so every
attempt is recorded). An endpoint on this machine over plain http (the embedded model, a
local vLLM or llama.cpp server) is posted to through ``engine.teacher.lean``: the same
headers and errors as the ``openai`` client, a fifth of the CPU per request (the clients:
engine/teacher/clients.py; the JSON sent and read back: engine/teacher/body.py). With a pool of
servers (``teacher.endpoints``) each attempt goes to the server ``engine.teacher.pool``
picks, and one that fails is left out while the request is retried on another; with
``teacher.batch`` a stage's requests are first answered by a batch job
(``prefetch_batch``, engine/teacher/batch.py).

For each request it first looks in the cache (``teacher_calls``); only missing samples
are sent, by a fixed pool of ``concurrency`` workers. Every returned sample and every
failed attempt is written to ``teacher_calls`` in the event-loop tick after it comes
back (one commit for all answers of a tick: engine/teacher/audit.py), and the batch
returns only once all are written, so a kill loses at most the answers of one tick. While a batch runs, full
garbage collections skip the objects that existed before it (``gcfreeze``).

Per request, failures after retries come back as ``Result.error``; wrong key, unknown
model and unreachable host raise ``TeacherError``; a spent budget raises
``BudgetExhausted`` (a ``StopRun``) once the requests in flight have returned. Each request
is reserved against the budget before it is sent and settled when it returns, so the
requests in flight count (engine/teacher/rounds.py, budget.py). Answers taken from the cache are noted
as used, not paid, by the run (``teacher_reuse``).

The database is written from the calling thread only (the loop runs there), so calling
``chat_many`` inside ``store.transaction()`` joins that transaction; call it outside
``ctx.commit(...)`` so its rows are committed at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from engine.errors import Cancelled, DistillabError
from engine.recipes import TeacherSpec
from engine.store import Store, calls
from engine.teacher import cache
from engine.teacher.audit import AuditLog
from engine.teacher.body import parse_choices, request_body
from engine.teacher.budget import Budget
from engine.teacher.clients import SHARD, Connections
from engine.teacher.errors import MAX_RETRY_AFTER_S, BudgetExhausted, Failure, TeacherError, classify
from engine.teacher.gcfreeze import frozen_while
from engine.teacher.keys import redact
from engine.teacher.limits import RateLimiter, estimate_split
from engine.teacher.local import GuardedServer
from engine.teacher.pool import EndpointPool
from engine.teacher.prices import Price
from engine.teacher.rounds import Outcome, Round, StopCheck, raise_first_distillab_error, stopped
from engine.teacher.types import CallError, Delta, Request, Result

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]
# Backoff: base * 2**(attempt-1) * jitter(0.5..1.5), at most 30 s between attempts.
MAX_BACKOFF_S = 30.0


class Teacher:
    """One endpoint + model, with cache, audit, budget and limits. Use ``open_teacher``."""

    def __init__(self, spec: TeacherSpec, *, base_url: str, model: str, api_key: str,
                 identity: str, price: Price | None, store: Store | None = None,
                 run_id: int | None = None, stage: str | None = None,
                 server: GuardedServer | None = None, backoff_s: float = 1.0,
                 pool: EndpointPool | None = None) -> None:
        self.spec = spec
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.identity = identity  # the endpoint as cache keys and audit rows name it
        self.price = price
        self.store = store
        self.run_id = run_id
        self.stage = stage
        self.server = server
        self.backoff_s = backoff_s
        self.pool = pool  # several servers (engine/teacher/pool.py); None: base_url alone
        self._key = api_key
        self._n_ok: bool | None = None  # does the endpoint honour n > 1?
        self._limiter = RateLimiter(spec.requests_per_minute, spec.tokens_per_minute)
        self._http = Connections(spec, base_url=self.base_url, model=model, api_key=api_key,
                                 pool=pool)  # engine/teacher/clients.py
        self._runner: asyncio.Runner | None = None
        self.audit = AuditLog(self)  # teacher_calls rows (engine/teacher/audit.py)

    @property
    def label(self) -> str:
        """The endpoint for messages: the URL, or the embedded model's name."""
        return self.identity if self.server is None else f"{self.identity} ({self.base_url})"

    def redact(self, text: str) -> str:
        """The text with this teacher's API key blanked (for messages and logs)."""
        return redact(text, self._key)

    def http_client(self) -> Any:
        """The current event loop's HTTP client (the first server's, for a pool): what the
        batch jobs (engine/teacher/batch.py) send their Files and Batches calls through."""
        return self._http.clients()[0]

    # -- life cycle ---------------------------------------------------------------------
    def close(self) -> None:
        """Close connections and stop the embedded server, if any."""
        if self.audit.rows:  # answers a refused write left queued: one more try
            try:
                self.audit.flush()
            except DistillabError as exc:
                log.warning("%s", exc)
        if self._runner is not None:
            self._runner.run(self._http.aclose())
            self._runner.close()
        self._runner, self._http.loop_clients, self._http.lean = None, None, None
        if self.server is not None:
            self.server.stop()

    def __enter__(self) -> Teacher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- public API ---------------------------------------------------------------------
    def chat_many(self, requests: Sequence[Request], *, progress: Progress | None = None,
                  should_stop: StopCheck | None = None) -> list[Result]:
        """Run ``requests`` concurrently; results in the same order. See the module doc."""
        if self._runner is None:
            self._runner = asyncio.Runner()
        try:
            with frozen_while():
                return self._runner.run(self.achat_many(requests, progress=progress,
                                                        should_stop=should_stop))
        except RuntimeError as exc:
            if "running event loop" in str(exc):
                raise RuntimeError("Teacher.chat_many was called from async code; await "
                                   "Teacher.achat_many instead") from None
            raise

    def chat(self, request: Request) -> Result:
        """One request (cache, retries, audit as in ``chat_many``)."""
        return self.chat_many([request])[0]

    async def achat_many(self, requests: Sequence[Request], *, progress: Progress | None = None,
                         should_stop: StopCheck | None = None) -> list[Result]:
        self._http.clients()
        batch = Round(Budget.load(self.store, self.run_id, self.spec.budget), should_stop)
        plans = [cache.plan(r, endpoint=self.identity, model=self.model,
                            temperature=self.spec.temperature,
                            max_tokens=self.spec.max_tokens) for r in requests]
        hits = calls.lookup(self.store, [k for _, keys in plans for k in keys]) \
            if self.store is not None else {}
        if self.store is not None and hits:  # used, not paid (engine.store.calls)
            calls.record_reuse(self.store, self.run_id, self.stage, list(hits.values()))
        total, done = len(requests), 0
        results: list[Result | None] = [None] * total
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, (_, keys) in enumerate(plans):  # the same request twice is sent once
            groups.setdefault(tuple(keys), []).append(i)

        async def run_group(indices: list[int]) -> None:
            nonlocal done
            params, keys = plans[indices[0]]
            result = await self._one(requests[indices[0]], params, keys, hits, batch)
            for n, i in enumerate(indices):
                results[i] = result if n == 0 else dataclasses.replace(
                    result, request=requests[i], cost_usd=0.0)
            done += len(indices)
            if progress is not None:
                progress(done, total)

        # A fixed pool of workers (not one task per request): at the start of a big batch
        # the first requests go out at once instead of waiting behind thousands of task
        # starts, and memory stays flat however many requests there are.
        todo = iter(groups.values())

        async def worker() -> None:
            for indices in todo:
                await run_group(indices)

        try:
            async with asyncio.TaskGroup() as group:
                for _ in range(min(len(groups), self.spec.concurrency)):
                    group.create_task(worker())
        except BaseExceptionGroup as grouped:
            raise_first_distillab_error(grouped)
            raise
        finally:
            self.audit.flush_error = None
            self.audit.flush()  # every answer of the batch is in the database before it returns
        kept = [r if r is not None and not stopped(r) else None for r in results]
        if batch.cancelled:
            raise Cancelled()
        if batch.budget_hit and any(r is None for r in kept):
            message, hint = batch.budget.stop_message()
            raise BudgetExhausted(message, hint, kept)
        return [r for r in results if r is not None]

    # -- one request --------------------------------------------------------------------
    async def _one(self, request: Request, params: dict[str, Any], keys: list[str],
                   hits: dict[str, calls.CachedCall], batch: Round) -> Result:
        total = Outcome()
        for index, key in enumerate(keys):
            if key in hits:
                total.completions[index] = cache.from_cache(hits[key], index)
                total.tokens_in += hits[key].tokens_in
                total.tokens_out += hits[key].tokens_out
        missing = [i for i in range(request.n) if i not in total.completions]
        while missing:
            if self._n_ok is False and len(missing) > 1:
                # one call per sample (the endpoint ignores n); a failing one cancels the rest
                try:
                    async with asyncio.TaskGroup() as group:
                        tasks = [group.create_task(self._call(request, params, keys, [i],
                                                              batch)) for i in missing]
                except BaseExceptionGroup as grouped:
                    raise_first_distillab_error(grouped)
                    raise
                outs = [t.result() for t in tasks]
            else:
                outs = [await self._call(request, params, keys, missing, batch)]
            for out in outs:
                total.completions.update(out.completions)
                total.tokens_in += out.tokens_in
                total.tokens_out += out.tokens_out
                total.latency_s = max(total.latency_s, out.latency_s)
                total.cost_usd += out.cost_usd
                total.error = total.error or out.error
                total.stopped = total.stopped or out.stopped
            still = [i for i in missing if i not in total.completions]
            if total.error or total.stopped or still == missing:
                break
            missing = still
        ordered = [total.completions[i] for i in sorted(total.completions)]
        error = total.error
        if error is None and total.stopped:
            error = CallError("stopped", "not sent: the run stopped (budget or cancel)")
        filtered = [c for c in ordered if c.finish_reason == "content_filter"]
        if error is None and filtered:
            error = CallError("content_filtered", f"sample {filtered[0].sample_index} was cut "
                              "by the endpoint's content filter")
        return Result(request, ordered, total.tokens_in, total.tokens_out, total.latency_s,
                      total.cost_usd, error)

    async def _call(self, request: Request, params: dict[str, Any], keys: list[str],
                    indices: list[int], batch: Round) -> Outcome:
        """One HTTP call for the samples ``indices``, with retries; records every attempt.

        Each attempt is reserved against the budget before it is sent and settled when it
        returns (engine/teacher/budget.py)."""
        body = request_body(self.model, request, params, indices)
        est_in, est_out = estimate_split(request.messages, int(params["max_tokens"]),
                                         len(indices))
        held = (est_in + est_out,
                self.price.cost(est_in, est_out) if self.price is not None else 0.0)
        audit = {"messages": request.messages, "params": params, "sample_index": indices[0],
                 "n_sent": len(indices), "seed_sent": body.get("seed")}
        clients = self._http.clients()
        assert self._http.slots is not None
        slot = await self._http.slots.get()  # LIFO: the warmest connection goes next
        client = clients[min(slot // SHARD, len(clients) - 1)]
        try:
            for attempt in range(1, self.spec.max_retries + 2):
                if batch.halted():
                    return Outcome(stopped=True)
                await self._limiter.acquire(held[0])
                if not await batch.admit(held):
                    return Outcome(stopped=True)
                member = await self._http.pick()  # chosen last: the load as it is when sent
                t0 = time.perf_counter()
                spent: tuple[int, float | None] = (0, 0.0)  # a failed attempt costs nothing
                failover = False
                started = self.pool.begin(member) if self.pool and member else 0.0
                try:
                    try:
                        data = await self._http.post(client, body, member)
                        choices = parse_choices(data)
                    except Exception as exc:
                        failure = classify(exc)
                        where = member.base_url if member is not None else None
                        if self.pool is not None and member is not None:
                            failover = self.pool.end(member, started, failure_kind=failure.kind)
                            member = None  # ended: the finally below must not end it again
                        self.audit.failed(keys[indices[0]], audit, failure, attempt,
                                           time.perf_counter() - t0, where)
                        last = attempt > self.spec.max_retries
                        if failure.fatal and (last or not failure.retryable):
                            raise TeacherError(failure.kind, self.label,
                                               redact(failure.message, self._key),
                                               self._local_hint(failure.kind)) from None
                        if last or not failure.retryable:
                            return Outcome(error=CallError(failure.kind, redact(
                                failure.message, self._key), failure.status, attempt))
                    else:
                        out = self.audit.answered(data, choices, request, keys, indices, audit,
                                               attempt, time.perf_counter() - t0,
                                               member.base_url if member else None)
                        spent = (out.tokens_in + out.tokens_out, out.cost_usd)
                        return out
                finally:
                    if self.pool is not None and member is not None:
                        self.pool.end(member, started, tokens=spent[0])
                    batch.settle(held, *spent)
                if failover and self.pool is not None and self.pool.any_up():
                    continue  # another server takes it now; this one is left out a while
                await self._wait_before_retry(failure, attempt)
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            self._http.slots.put_nowait(slot)

    def _local_hint(self, kind: str) -> str:
        """For a server this teacher started (embedded, lab) that stopped answering, what to
        do; '' (the kind's usual hint) otherwise."""
        if self.server is None or kind != "unreachable":
            return ""
        return (f"the {self.server.program} server this run started has stopped (killed, or out "
                "of memory); `distillab resume RUN_ID` starts a new one, and answers already "
                "stored are not asked again")

    async def _wait_before_retry(self, failure: Failure, attempt: int) -> None:
        if failure.retry_after_s is not None:
            delay = min(failure.retry_after_s, MAX_RETRY_AFTER_S)
            self._limiter.pause(delay)
        else:
            delay = min(MAX_BACKOFF_S, self.backoff_s * 2 ** (attempt - 1)) * \
                random.uniform(0.5, 1.5)
        await asyncio.sleep(delay)

    # -- batch jobs (teacher.batch) ----------------------------------------------------
    def prefetch_batch(self, requests: Sequence[Request], *, should_stop: StopCheck | None = None,
                       log: Callable[[str], None] | None = None) -> Any:
        """Answer ``requests`` through one batch job (engine/teacher/batch.py) into the
        cache, so the ``chat_many`` that follows finds them; returns its ``BatchReport``."""
        from engine.teacher.batch import run_batch

        if self._runner is None:
            self._runner = asyncio.Runner()
        return self._runner.run(run_batch(self, requests, should_stop=should_stop, log=log))

    # -- streaming (the GUI's "try a prompt") -------------------------------------------
    def stream(self, request: Request) -> Iterator[Delta]:
        """Yield the answer as it is generated (one sample); recorded like any call."""
        from engine.teacher.stream import stream_chat

        yield from stream_chat(self, request)

