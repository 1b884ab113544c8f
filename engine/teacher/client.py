"""The teacher client: many chat requests at once against one OpenAI-compatible endpoint.

``Teacher.chat_many`` is called from ordinary (synchronous) stage code and runs the
requests concurrently on an asyncio loop in the calling thread, with the ``openai``
package's ``AsyncOpenAI`` (its own retries off: ``_call`` below retries, so every
attempt is recorded). An endpoint on this machine over plain http (the embedded model, a
local vLLM or llama.cpp server) is posted to through ``engine.teacher.lean``: the same
headers and errors as the ``openai`` client, a fifth of the CPU per request. With a pool of
servers (``teacher.endpoints``) each attempt goes to the server ``engine.teacher.pool``
picks, and one that fails is left out while the request is retried on another; with
``teacher.batch`` a stage's requests are first answered by a batch job
(``prefetch_batch``, engine/teacher/batch.py).

For each request it first looks in the cache (``teacher_calls``); only missing samples
are sent, by a fixed pool of ``concurrency`` workers. Every returned sample and every
failed attempt is written to ``teacher_calls`` in the event-loop tick after it comes
back (one commit for all answers of a tick), and the batch returns only once all are
written, so a kill loses at most the answers of one tick. While a batch runs, full
garbage collections skip the objects that existed before it (``gcfreeze``).

Per request, failures after retries come back as ``Result.error``; wrong key, unknown
model and unreachable host raise ``TeacherError``; a spent budget raises
``BudgetExhausted`` (a ``StopRun``) once the requests in flight have returned. Each request
is reserved against the budget before it is sent and settled when it returns, so the
requests in flight count (engine/teacher/budget.py). Answers taken from the cache are noted
as used, not paid, by the run (``teacher_reuse``).

The database is written from the calling thread only (the loop runs there), so calling
``chat_many`` inside ``store.transaction()`` joins that transaction; call it outside
``ctx.commit(...)`` so its rows are committed at once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from engine.errors import Cancelled, DistillabError
from engine.recipes import TeacherSpec
from engine.store import Store, calls
from engine.teacher import cache
from engine.teacher.budget import Budget
from engine.teacher.errors import (
    MAX_RETRY_AFTER_S,
    BudgetExhausted,
    Failure,
    MalformedResponse,
    TeacherError,
    classify,
)
from engine.teacher.gcfreeze import frozen_while
from engine.teacher.keys import redact
from engine.teacher.limits import RateLimiter, estimate_split
from engine.teacher.local import GuardedServer
from engine.teacher.pool import EndpointPool, Member
from engine.teacher.prices import LOCAL_HOSTS, Price
from engine.teacher.types import CallError, Completion, Delta, Request, Result

if TYPE_CHECKING:
    import openai

    from engine.teacher.lean import LeanChat

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]
StopCheck = Callable[[], bool]
# Backoff: base * 2**(attempt-1) * jitter(0.5..1.5), at most 30 s between attempts.
MAX_BACKOFF_S = 30.0
SHARD = 8  # request slots (and connections) per HTTP client; see _async_clients


@dataclass
class _Batch:
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
class _Outcome:
    completions: dict[int, Completion] = field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0
    latency_s: float = 0.0
    cost_usd: float = 0.0
    error: CallError | None = None
    stopped: bool = False


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
        self._slots: asyncio.LifoQueue[int] | None = None  # free request slots
        self._aclient: tuple[asyncio.AbstractEventLoop, list[openai.AsyncOpenAI]] | None = None
        self._runner: asyncio.Runner | None = None
        self._lean: LeanChat | None = None  # set for plain-http endpoints on this machine
        self._rows: list[dict[str, Any]] = []  # audit rows not yet written (see _audit)
        self._flush_scheduled = False
        self._flush_error: DistillabError | None = None

    @property
    def label(self) -> str:
        """The endpoint for messages: the URL, or the embedded model's name."""
        return self.identity if self.server is None else f"{self.identity} ({self.base_url})"

    # -- life cycle ---------------------------------------------------------------------
    def close(self) -> None:
        """Close connections and stop the embedded server, if any."""
        if self._rows:  # answers a refused write left queued: one more try
            try:
                self._flush()
            except DistillabError as exc:
                log.warning("%s", exc)
        if self._runner is not None:
            for client in self._aclient[1] if self._aclient is not None else []:
                self._runner.run(client.close())
            if self._lean is not None:
                self._runner.run(self._lean.aclose())
            for member in self.pool.members if self.pool is not None else []:
                if member.client is not None:
                    self._runner.run(member.client.close())
                if member.lean is not None:
                    self._runner.run(member.lean.aclose())
                member.client, member.lean = None, None
            self._runner.close()
        self._runner, self._aclient, self._lean = None, None, None
        if self.server is not None:
            self.server.stop()

    def __enter__(self) -> Teacher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _async_clients(self) -> list[openai.AsyncOpenAI]:
        """The clients of the running loop (and its request slots).

        For a plain-http endpoint on this machine: one client, and chat requests go
        through ``LeanChat`` (engine/teacher/lean.py). Otherwise one client per ``SHARD``
        slots: httpcore's pool scans all its connections for every request
        (O(connections)), which at 64 in flight costs more CPU than the request itself;
        pools of 8 keep that flat.
        """
        import httpx2
        import openai

        from engine.teacher.lean import LeanChat

        loop = asyncio.get_running_loop()
        if self._aclient is None or self._aclient[0] is not loop:
            url = urlparse(self.base_url)
            lean = url.scheme == "http" and (url.hostname or "") in LOCAL_HOSTS
            shards = 1 if lean else -(-self.spec.concurrency // SHARD)
            per = self.spec.concurrency if lean else SHARD  # lean: in case of a redirect
            limits = httpx2.Limits(max_connections=per, max_keepalive_connections=per)
            clients = [openai.AsyncOpenAI(
                api_key=self._key, base_url=self.base_url, max_retries=0,
                timeout=self._timeout(),
                http_client=openai.DefaultAsyncHttpxClient(limits=limits,
                                                           timeout=self._timeout()))
                for _ in range(shards)]
            self._lean = LeanChat(clients[0], self._timeout(),
                                   self.spec.concurrency) if lean else None
            self._aclient = (loop, clients)
            for member in self.pool.members if self.pool is not None else []:
                local = urlparse(member.base_url)
                member.client = openai.AsyncOpenAI(
                    api_key=member.key, base_url=member.base_url, max_retries=0,
                    timeout=self._timeout(), http_client=openai.DefaultAsyncHttpxClient(
                        limits=httpx2.Limits(max_connections=self.spec.concurrency,
                                             max_keepalive_connections=self.spec.concurrency),
                        timeout=self._timeout()))
                member.lean = LeanChat(member.client, self._timeout(), self.spec.concurrency) \
                    if local.scheme == "http" and (local.hostname or "") in LOCAL_HOSTS else None
            self._slots = asyncio.LifoQueue()
            for slot in reversed(range(self.spec.concurrency)):
                self._slots.put_nowait(slot)
        return self._aclient[1]

    def _timeout(self) -> Any:
        import httpx2

        return httpx2.Timeout(self.spec.timeout_s, connect=min(10.0, self.spec.timeout_s))

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
        self._async_clients()
        batch = _Batch(Budget.load(self.store, self.run_id, self.spec.budget), should_stop)
        plans = [self._plan(r) for r in requests]
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
            _raise_first_distillab_error(grouped)
            raise
        finally:
            self._flush_error = None
            self._flush()  # every answer of the batch is in the database before it returns
        kept = [r if r is not None and not _stopped(r) else None for r in results]
        if batch.cancelled:
            raise Cancelled()
        if batch.budget_hit and any(r is None for r in kept):
            message, hint = batch.budget.stop_message()
            raise BudgetExhausted(message, hint, kept)
        return [r for r in results if r is not None]

    # -- one request --------------------------------------------------------------------
    def _plan(self, request: Request) -> tuple[dict[str, Any], list[str]]:
        params = cache.sampling_params(request, temperature=self.spec.temperature,
                                       max_tokens=self.spec.max_tokens)
        keys = [cache.cache_key(self.identity, self.model, request.messages, params, i)
                for i in range(request.n)]
        return params, keys

    async def _one(self, request: Request, params: dict[str, Any], keys: list[str],
                   hits: dict[str, calls.CachedCall], batch: _Batch) -> Result:
        total = _Outcome()
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
                    _raise_first_distillab_error(grouped)
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
                    indices: list[int], batch: _Batch) -> _Outcome:
        """One HTTP call for the samples ``indices``, with retries; records every attempt.

        Each attempt is reserved against the budget before it is sent and settled when it
        returns (engine/teacher/budget.py)."""
        body = self._body(request, params, indices)
        est_in, est_out = estimate_split(request.messages, int(params["max_tokens"]),
                                         len(indices))
        held = (est_in + est_out,
                self.price.cost(est_in, est_out) if self.price is not None else 0.0)
        audit = {"messages": request.messages, "params": params, "sample_index": indices[0],
                 "n_sent": len(indices), "seed_sent": body.get("seed")}
        clients = self._async_clients()
        assert self._slots is not None
        slot = await self._slots.get()  # LIFO: the warmest connection goes next
        client = clients[min(slot // SHARD, len(clients) - 1)]
        try:
            for attempt in range(1, self.spec.max_retries + 2):
                if batch.halted():
                    return _Outcome(stopped=True)
                await self._limiter.acquire(held[0])
                if not await batch.admit(held):
                    return _Outcome(stopped=True)
                member = await self._pick()  # chosen last: the load as it is when sent
                t0 = time.perf_counter()
                spent: tuple[int, float | None] = (0, 0.0)  # a failed attempt costs nothing
                failover = False
                started = self.pool.begin(member) if self.pool and member else 0.0
                try:
                    try:
                        data = await self._post(client, body, member)
                        choices = _choices(data)
                    except Exception as exc:
                        failure = classify(exc)
                        where = member.base_url if member is not None else None
                        if self.pool is not None and member is not None:
                            failover = self.pool.end(member, started, failure_kind=failure.kind)
                            member = None  # ended: the finally below must not end it again
                        self._record_error(keys[indices[0]], audit, failure, attempt,
                                           time.perf_counter() - t0, where)
                        last = attempt > self.spec.max_retries
                        if failure.fatal and (last or not failure.retryable):
                            raise TeacherError(failure.kind, self.label,
                                               redact(failure.message, self._key),
                                               self._local_hint(failure.kind)) from None
                        if last or not failure.retryable:
                            return _Outcome(error=CallError(failure.kind, redact(
                                failure.message, self._key), failure.status, attempt))
                    else:
                        out = self._store_success(data, choices, request, keys, indices, audit,
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
            self._slots.put_nowait(slot)

    async def _pick(self) -> Member | None:
        """The pool's server for the next attempt, waiting while every server is down
        (None without a pool)."""
        if self.pool is None:
            return None
        while (member := self.pool.pick()) is None:
            await asyncio.sleep(max(0.01, self.pool.wait_s()))
        return member

    async def _post(self, client: openai.AsyncOpenAI, body: dict[str, Any],
                    member: Member | None = None) -> Any:
        """Send one chat request (to ``member`` of the pool, if given); the parsed JSON."""
        import httpx2

        if member is not None:
            body = body if member.model == self.model else {**body, "model": member.model}
            if member.lean is not None:
                answer = await member.lean.post(body)
                if answer is not None:
                    return json.loads(answer)
            assert member.client is not None
            raw = await member.client.post("/chat/completions", body=body,
                                           cast_to=httpx2.Response,
                                           options={"timeout": self._timeout()})
            return json.loads(raw.content)
        if self._lean is not None:  # this machine: see engine/teacher/lean.py
            answer = await self._lean.post(body)
            if answer is not None:
                return json.loads(answer)
            self._lean = None  # a redirect: the openai client follows those
        # The client's documented custom-request call: same auth, headers and status errors
        # as chat.completions.create, without its per-request parameter transform and
        # response models.
        raw = await client.post("/chat/completions", body=body, cast_to=httpx2.Response,
                                options={"timeout": self._timeout()})
        return json.loads(raw.content)

    def _local_hint(self, kind: str) -> str:
        """For a server this teacher started (embedded, lab) that stopped answering, what to
        do; '' (the kind's usual hint) otherwise."""
        if self.server is None or kind != "unreachable":
            return ""
        return (f"the {self.server.program} server this run started has stopped (killed, or out "
                "of memory); `distillab resume RUN_ID` starts a new one, and answers already "
                "stored are not asked again")

    def _body(self, request: Request, params: dict[str, Any], indices: list[int]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "messages": request.messages,
                                "temperature": params["temperature"],
                                "max_tokens": params["max_tokens"]}
        if len(indices) > 1:
            body["n"] = len(indices)
        for name in ("top_p", "stop", "logprobs", "top_logprobs"):
            if params[name] not in (None, False):
                body[name] = params[name]
        if params["seed"] is not None:
            # Sample i sent alone (an endpoint that ignores n) gets seed+i, or all samples
            # of a seeded request would be the same text.
            body["seed"] = params["seed"] + (indices[0] if len(indices) == 1 else 0)
        if params["extra"]:
            body.update(params["extra"])
        return body

    async def _wait_before_retry(self, failure: Failure, attempt: int) -> None:
        if failure.retry_after_s is not None:
            delay = min(failure.retry_after_s, MAX_RETRY_AFTER_S)
            self._limiter.pause(delay)
        else:
            delay = min(MAX_BACKOFF_S, self.backoff_s * 2 ** (attempt - 1)) * \
                random.uniform(0.5, 1.5)
        await asyncio.sleep(delay)

    # -- audit --------------------------------------------------------------------------
    def _record_error(self, key: str, audit: dict[str, Any], failure: Failure, attempt: int,
                      latency_s: float, endpoint: str | None = None) -> None:
        """A failed attempt's audit row; ``endpoint``: the pool server that failed."""
        self._audit(calls.row(
            cache_key=key, endpoint=endpoint or self.identity, model=self.model,
            request={**audit, "attempt": attempt},
            response={"kind": failure.kind, "status": failure.status,
                      "retry_after_s": failure.retry_after_s, "attempt": attempt},
            run_id=self.run_id, stage=self.stage, latency_s=latency_s,
            error=redact(f"{failure.kind}: {failure.message}", self._key)))

    def _audit(self, row: dict[str, Any]) -> None:
        """Queue a ``teacher_calls`` row; all rows of one event-loop tick commit together.

        Answers of a wave of requests arrive together; one commit per answer would make
        the last of them wait for all the others' commits before its slot sends the next
        request. The flush runs at the start of the next tick (``call_soon``), and at the
        end of every batch, so a kill loses at most the answers of the tick it hit. If the
        database refused a flush, the rows are kept and the batch stops with that error.
        """
        if self.store is None:
            return
        self._rows.append(row)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_soon)
        if self._flush_error is not None:
            error, self._flush_error = self._flush_error, None  # raised once, by this task
            raise error

    def _flush_soon(self) -> None:
        self._flush_scheduled = False
        try:
            self._flush()
        except DistillabError as exc:  # raised by the next _audit, or the batch's end
            self._flush_error = exc

    def _flush(self) -> None:
        rows, self._rows = self._rows, []
        if not rows or self.store is None:
            return
        try:
            calls.record_rows(self.store, rows)
        except Exception as exc:  # kept for the next try; never dropped silently
            self._rows[:0] = rows
            raise DistillabError(
                f"could not write {len(rows)} teacher answer(s) to the database "
                f"{self.store.path}: {exc}",
                "free some disk space, or close the program that holds the database; then "
                "resume the run: answers already stored are not asked again") from exc

    def _store_success(self, data: dict[str, Any], choices: list[dict[str, Any]],
                       request: Request, keys: list[str], indices: list[int],
                       audit: dict[str, Any], attempt: int, latency_s: float,
                       endpoint: str | None = None, price: Price | None = None) -> _Outcome:
        """Queue the audit rows of an answer (one per sample); ``endpoint``: the pool server
        that answered; ``price``: instead of the teacher's (a batch job's answers)."""
        price = price or self.price
        if len(indices) > 1:
            self._n_ok = len(choices) >= len(indices)
        taken = list(zip(indices, choices, strict=False))
        usage = data.get("usage") if isinstance(data.get("usage"), dict) else None
        records = [cache.choice_record(c) for _, c in taken]
        if usage is not None:
            tokens_in = _count(usage.get("prompt_tokens"))
            tokens_out = _count(usage.get("completion_tokens"))
        else:  # no usage reported: estimate (4 characters a token) so budgets still count
            tokens_in = sum(len(str(m.get("content", ""))) for m in request.messages) // 4
            tokens_out = sum(len(r["text"]) for r in records) // 4
        out = _Outcome(tokens_in=tokens_in, tokens_out=tokens_out, latency_s=latency_s)
        share, rest = divmod(tokens_out, len(taken))
        meta = {"id": data.get("id"), "model": data.get("model"), "attempt": attempt}
        for j, ((index, _), record) in enumerate(zip(taken, records, strict=True)):
            t_in = tokens_in if j == 0 else 0
            t_out = share + (rest if j == 0 else 0)
            cost = price.cost(t_in, t_out) if price is not None else None
            out.cost_usd += cost or 0.0
            out.completions[index] = cache.completion(record, index, cached=False)
            first = j == 0
            self._audit(calls.row(
                cache_key=keys[index], endpoint=endpoint or self.identity, model=self.model,
                request={**audit, "attempt": attempt} if first else
                {"sample_index": index, "same_call_as": keys[indices[0]]},
                response={**record, **meta, "usage": usage, "usage_estimated": usage is None}
                if first else {**record, **meta},
                run_id=self.run_id, stage=self.stage, tokens_in=t_in, tokens_out=t_out,
                latency_s=latency_s if first else 0.0, cost_usd=cost))
        return out

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


def _raise_first_distillab_error(grouped: BaseExceptionGroup[BaseException]) -> None:
    """Raise the first ``DistillabError`` among a task group's errors (nested groups
    included), so the user reads its message rather than a group's traceback."""
    for exc in grouped.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            _raise_first_distillab_error(exc)
        elif isinstance(exc, DistillabError):
            raise exc from None


def _count(value: Any) -> int:
    """A token count from the server's usage, as a sane int (SQLite stores up to 2**63)."""
    try:
        return min(max(int(value or 0), 0), 2**53)
    except (TypeError, ValueError):
        return 0


def _stopped(result: Result) -> bool:
    return result.error is not None and result.error.kind == "stopped"


def _choices(data: Any) -> list[dict[str, Any]]:
    """The choices of a chat completion body, sorted by index; raises if it is not one."""
    if not isinstance(data, dict):
        raise MalformedResponse(f"expected a JSON object, got {type(data).__name__}")
    if "error" in data and not data.get("choices"):
        raise MalformedResponse(f"error in a 200 answer: {str(data['error'])[:300]}")
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise MalformedResponse("no choices in the answer")
    for choice in choices:
        if not isinstance(choice, dict) or not isinstance(choice.get("message"), dict):
            raise MalformedResponse("a choice without a message")
        content = choice["message"].get("content")
        if content is not None and not isinstance(content, str):
            raise MalformedResponse("a message whose content is not text")
    return sorted(choices, key=lambda c: int(c.get("index") or 0))
