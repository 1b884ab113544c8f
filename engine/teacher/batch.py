"""Batch teacher jobs (``teacher.batch: true``): many independent requests as one OpenAI
Batch job, at half the price, answered into the cache.

``run_batch`` (``Teacher.prefetch_batch``; stages reach it through
``engine.paradigms.blocks.ask_units``) takes the requests a stage is about to send and:

1. leaves out every sample already in the cache, and requests an earlier batch of this
   run's stage already tried (they failed or expired there: see 6);
2. writes one JSONL line per request (OpenAI batch input: ``custom_id`` = the cache key of
   its first sample, ``method``, ``url`` = /v1/chat/completions, ``body``) and uploads it
   (``POST /v1/files``, purpose ``batch``); within a spending cap, only the requests whose
   estimated cost (at the batch rate) fits go in the batch;
3. submits it (``POST /v1/batches``) and stores the batch id in ``teacher_batches`` at once
   (engine/store/batches.py), so a restarted stage finds it and polls it instead of
   submitting again (nothing is submitted twice);
4. polls it (``GET /v1/batches/{id}``) every ``teacher.batch_poll_s`` seconds until it is
   completed, failed, expired or cancelled (a cancel of the run stops the polling; the
   batch goes on at the endpoint and ``distillab resume`` polls it again);
5. downloads the output and error files (``GET /v1/files/{id}/content``) and writes every
   answer to ``teacher_calls`` as an ordinary cache row priced at the batch rate
   (``Price.batch_rate``, 50%), every failed request as a failed attempt, and marks the
   batch mapped, all in one transaction: a kill never records a batch's answers twice;
6. requests that failed in the batch or were left unanswered when it expired are *retried
   normally*: the stage's ``chat_many`` that follows finds every answer cached and sends only
   those, one by one at the normal price (the log says how many).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from engine.errors import Cancelled, DistillabError
from engine.store import batches, calls, now
from engine.teacher import cache
from engine.teacher.body import parse_choices, request_body
from engine.teacher.budget import Budget
from engine.teacher.errors import Failure, MalformedResponse, TeacherError, classify
from engine.teacher.limits import estimate_split
from engine.teacher.types import Request

if TYPE_CHECKING:
    import openai

    from engine.teacher.client import Teacher

TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
CHAT_URL: Final = "/v1/chat/completions"
NO_BATCH_API = ("this endpoint has no Files/Batches API (vLLM and SGLang servers do not "
                "serve it over HTTP): set teacher.batch: false, or use an endpoint that has it")


@dataclass
class BatchReport:
    """What one ``run_batch`` did."""

    batch_id: str | None = None
    status: str = "nothing to send"
    sent: int = 0  # requests in the batch
    answered: int = 0  # requests whose answers are now in the cache
    failed: int = 0  # requests the batch answered with an error
    unanswered: int = 0  # requests it never answered (expired, cancelled, failed batch)
    resumed: bool = False  # polled a batch submitted before (a restart)
    left_out: int = 0  # requests left for the normal path (budget, tried before)
    polls: int = 0


@dataclass
class _Line:
    custom_id: str
    request: Request
    keys: list[str]
    indices: list[int]  # the samples this line asks for
    body: dict[str, Any] = field(default_factory=dict)


def _lines(teacher: Teacher, requests: Sequence[Request], tried: set[str]) -> list[_Line]:
    """One line per distinct request with samples missing from the cache."""
    assert teacher.store is not None
    plans = [(r, *cache.plan(r, endpoint=teacher.identity, model=teacher.model,
                             temperature=teacher.spec.temperature,
                             max_tokens=teacher.spec.max_tokens)) for r in requests]
    hits = calls.lookup(teacher.store, [k for _, _, keys in plans for k in keys])
    out: dict[str, _Line] = {}
    for request, params, keys in plans:
        missing = [i for i, k in enumerate(keys) if k not in hits]
        if not missing or keys[missing[0]] in tried or keys[missing[0]] in out:
            continue
        body = request_body(teacher.model, request, params, missing)
        out[keys[missing[0]]] = _Line(keys[missing[0]], request, keys, missing, body)
    return list(out.values())


def _within_budget(teacher: Teacher, lines: list[_Line]) -> list[_Line]:
    """The first lines whose estimated cost at the batch rate fits what the cap leaves."""
    budget = Budget.load(teacher.store, teacher.run_id, teacher.spec.budget)
    if budget.exhausted():
        return []
    if not budget.limited:
        return lines
    price = teacher.price.batch_rate() if teacher.price is not None else None
    tokens, usd = budget.tokens, budget.usd
    kept = []
    for line in lines:
        est_in, est_out = estimate_split(line.request.messages, int(line.body["max_tokens"]),
                                         len(line.indices))
        tokens += est_in + est_out
        usd += price.cost(est_in, est_out) if price is not None else 0.0
        if (budget.cap.max_tokens is not None and tokens > budget.cap.max_tokens) or \
                (budget.cap.max_usd is not None and usd > budget.cap.max_usd):
            break
        kept.append(line)
    return kept


async def _api(teacher: Teacher, what: str, call: Callable[[], Any]) -> Any:
    """One Files/Batches call, retried like a chat request (429, 5xx, dropped connections);
    what no retry fixes raises ``TeacherError`` (a missing Batches API says so)."""
    for attempt in range(1, teacher.spec.max_retries + 2):
        try:
            return await call()
        except Exception as exc:
            failure = classify(exc)
            message = teacher.redact(f"{what}: {failure.message}")
            if failure.kind == "not_found":
                raise TeacherError("not_found", teacher.label, message, NO_BATCH_API) from None
            if not failure.retryable or attempt > teacher.spec.max_retries:
                raise TeacherError(failure.kind, teacher.label, message) from None
            await asyncio.sleep(min(30.0, teacher.backoff_s * 2 ** (attempt - 1)))
    raise AssertionError("unreachable")  # pragma: no cover


async def _wait(seconds: float, should_stop: Callable[[], bool] | None) -> None:
    """Sleep between polls, checking for a cancel five times a second."""
    end = time.monotonic() + seconds
    while True:
        if should_stop is not None and should_stop():
            raise Cancelled()
        left = end - time.monotonic()
        if left <= 0:
            return
        await asyncio.sleep(min(0.2, left))


async def run_batch(teacher: Teacher, requests: Sequence[Request], *,
                    should_stop: Callable[[], bool] | None = None,
                    log: Callable[[str], None] | None = None) -> BatchReport:
    """Answer ``requests`` into the cache through one batch job; see the module doc."""
    say = log or (lambda message: None)
    store = teacher.store
    if store is None:
        raise DistillabError("teacher.batch needs the project database (the batch id and its "
                             "answers are kept there)", "run the stage inside a run")
    earlier = batches.for_stage(store, teacher.run_id, teacher.stage)
    tried = {cid for b in earlier if b.mapped for cid in b.custom_ids}
    lines = _lines(teacher, requests, tried)
    report = BatchReport()
    if not lines:
        return report
    key = hashlib.sha256("\n".join(sorted(line.custom_id for line in lines)).encode()).hexdigest()
    row = batches.find(store, teacher.run_id, teacher.stage, key, teacher.identity)
    if row is not None and row.mapped:
        row = None  # cannot happen (its ids are in `tried`); never map a batch twice
    if row is None:
        fitting = _within_budget(teacher, lines)
        report.left_out = len(lines) - len(fitting)
        if not fitting:
            say(f"teacher batch: not submitted (the budget has no room for it): "
                f"{len(lines)} requests go one by one")
            report.status = "budget"
            return report
        if len(fitting) < len(lines):
            lines = fitting
            key = hashlib.sha256("\n".join(sorted(line.custom_id for line in lines))
                                 .encode()).hexdigest()
            row = batches.find(store, teacher.run_id, teacher.stage, key, teacher.identity)
            row = None if row is not None and row.mapped else row
    for other in earlier:
        if not other.mapped and other.batch_key != key:
            say(f"teacher batch {other.batch_id} of this stage ({len(other.custom_ids)} "
                "requests) was never collected and asks for other requests than the stage "
                "does now (the recipe or data changed?): it is left as it is; cancel it at "
                "the endpoint if it is not needed")
    client = teacher.http_client()
    by_id = {line.custom_id: line for line in lines}
    if row is None:
        row = await _submit(teacher, client, lines, key)
        say(f"teacher batch {row.batch_id}: {len(lines)} requests submitted to "
            f"{teacher.label}; polling every {teacher.spec.batch_poll_s:g} s")
    else:
        report.resumed = True
        say(f"teacher batch {row.batch_id}: submitted before ({len(row.custom_ids)} "
            f"requests); polling it again")
        by_id = {cid: by_id[cid] for cid in row.custom_ids if cid in by_id}
    report.batch_id, report.sent = row.batch_id, len(row.custom_ids)
    info = await _poll(teacher, client, row, should_stop, report)
    await _collect(teacher, client, row, info, by_id, report)
    parts = [f"{report.answered} answered at the batch rate"]
    if report.failed:
        parts.append(f"{report.failed} failed")
    if report.unanswered:
        parts.append(f"{report.unanswered} unanswered ({report.status})")
    retry = report.failed + report.unanswered
    say(f"teacher batch {row.batch_id} {report.status}: {', '.join(parts)}"
        + (f"; those {retry} are sent now one by one at the normal price" if retry else ""))
    return report


async def _submit(teacher: Teacher, client: openai.AsyncOpenAI, lines: list[_Line],
                  key: str) -> batches.BatchRow:
    assert teacher.store is not None
    data = "".join(json.dumps({"custom_id": line.custom_id, "method": "POST", "url": CHAT_URL,
                               "body": line.body}, ensure_ascii=False) + "\n"
                   for line in lines).encode()
    uploaded = await _api(teacher, "uploading the batch input", lambda: client.files.create(
        file=("distillab-batch.jsonl", data, "application/jsonl"), purpose="batch"))
    created = await _api(teacher, "submitting the batch", lambda: client.batches.create(
        input_file_id=uploaded.id, endpoint=CHAT_URL,
        completion_window=teacher.spec.batch_window,  # type: ignore[arg-type]
        metadata={"distillab_run": str(teacher.run_id), "stage": str(teacher.stage),
                  "key": key[:16]}))
    # stored at once: from here on a restart polls this batch instead of submitting again
    return batches.add(teacher.store, run_id=teacher.run_id, stage=teacher.stage,
                       batch_key=key, endpoint=teacher.identity, batch_id=created.id,
                       input_file_id=uploaded.id, status=str(created.status),
                       custom_ids=[line.custom_id for line in lines])


async def _poll(teacher: Teacher, client: openai.AsyncOpenAI, row: batches.BatchRow,
                should_stop: Callable[[], bool] | None, report: BatchReport) -> Any:
    assert teacher.store is not None
    status = row.status
    while True:
        info = await _api(teacher, f"polling batch {row.batch_id}",
                          lambda: client.batches.retrieve(row.batch_id))
        report.polls += 1
        if info.status != status:
            status = str(info.status)
            counts = info.request_counts.model_dump() if info.request_counts else None
            batches.update(teacher.store, row.id, status=status, counts=counts)
        if status in TERMINAL:
            return info
        await _wait(teacher.spec.batch_poll_s, should_stop)


async def _download(teacher: Teacher, client: openai.AsyncOpenAI, file_id: str | None) -> list[Any]:
    if not file_id:
        return []
    content = await _api(teacher, f"downloading {file_id}", lambda: client.files.content(file_id))
    out = []
    for text in content.content.decode("utf-8").splitlines():
        if text.strip():
            try:
                out.append(json.loads(text))
            except ValueError:
                continue  # one broken line does not lose the others
    return out


def _line_failure(record: dict[str, Any]) -> Failure:
    """Why one request of the batch failed."""
    error = record.get("error") or {}
    response = record.get("response") or {}
    status = response.get("status_code")
    if isinstance(error, dict) and error:
        code = str(error.get("code") or "error")
        return Failure(code if code.startswith("batch_") else f"batch_{code}",
                       str(error.get("message") or error)[:500], status)
    body = response.get("body") or {}
    inner = body.get("error") if isinstance(body, dict) else None
    message = inner.get("message") if isinstance(inner, dict) else str(body)[:300]
    return Failure("batch_request_failed", f"status {status}: {message}", status)


async def _collect(teacher: Teacher, client: openai.AsyncOpenAI, row: batches.BatchRow,
                   info: Any, lines: dict[str, _Line], report: BatchReport) -> None:
    """Map the batch's answers into the cache and mark it mapped, in one transaction."""
    assert teacher.store is not None
    report.status = str(info.status)
    output = await _download(teacher, client, getattr(info, "output_file_id", None))
    errors = await _download(teacher, client, getattr(info, "error_file_id", None))
    price = teacher.price.batch_rate() if teacher.price is not None else None
    seen: set[str] = set()
    with teacher.store.transaction():
        for record in [*output, *errors]:
            cid = record.get("custom_id") if isinstance(record, dict) else None
            line = lines.get(str(cid))
            if line is None or cid in seen:
                continue
            seen.add(line.custom_id)
            audit = {"messages": line.request.messages, "params": line.body,
                     "sample_index": line.indices[0], "n_sent": len(line.indices),
                     "seed_sent": line.body.get("seed"), "batch_id": row.batch_id}
            response = record.get("response") or {}
            data = response.get("body")
            failure = None
            if response.get("status_code") == 200 and not record.get("error") and \
                    isinstance(data, dict):
                try:
                    choices = parse_choices(data)
                except MalformedResponse as exc:
                    failure = Failure("malformed", str(exc))
                else:
                    teacher.audit.answered(data, choices, line.request, line.keys,
                                           line.indices, audit, 1, 0.0, price=price)
                    report.answered += 1
                    continue
            failure = failure or _line_failure(record)
            teacher.audit.failed(line.custom_id, audit, failure, 1, 0.0)
            if failure.kind == "batch_expired":  # not tried before the window closed
                seen.discard(line.custom_id)
            else:
                report.failed += 1
        teacher.audit.flush()
        report.unanswered = len(lines) - len(seen)
        batches.update(teacher.store, row.id, status=report.status, mapped=1,
                       finished_at=now(), output_file_id=getattr(info, "output_file_id", None),
                       error_file_id=getattr(info, "error_file_id", None))
