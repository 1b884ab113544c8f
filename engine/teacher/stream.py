"""Streaming one answer as it is generated, for the GUI's "try a prompt" panel.

A plain generator of ``Delta`` pieces over the synchronous ``openai`` client (the GUI
runs it on a worker thread and forwards pieces by signal). A cached answer is yielded in
one piece. The finished answer is recorded in ``teacher_calls`` like any other call, so
asking the same thing again costs nothing. Any failure raises ``TeacherError``: in an
interactive panel the person reads the message and decides.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from engine.store import calls
from engine.teacher import cache
from engine.teacher.errors import TeacherError, classify
from engine.teacher.types import Delta, Request

if TYPE_CHECKING:
    from engine.teacher.client import Teacher


def stream_chat(teacher: Teacher, request: Request) -> Iterator[Delta]:
    import openai

    params = cache.sampling_params(request, temperature=teacher.spec.temperature,
                                   max_tokens=teacher.spec.max_tokens)
    key = cache.cache_key(teacher.identity, teacher.model, request.messages, params, 0)
    if teacher.store is not None:
        hit = calls.lookup(teacher.store, [key]).get(key)
        if hit is not None:
            calls.record_reuse(teacher.store, teacher.run_id, teacher.stage, [hit])
            done = cache.from_cache(hit, 0)
            yield Delta(done.text, done.reasoning_content or "", done.finish_reason)
            return
    body: dict[str, Any] = {"model": teacher.model, "messages": request.messages,
                            "temperature": params["temperature"],
                            "max_tokens": params["max_tokens"], "stream": True}
    for name in ("top_p", "stop", "seed"):
        if params[name] is not None:
            body[name] = params[name]
    if params["extra"]:
        body["extra_body"] = params["extra"]
    client = openai.OpenAI(api_key=teacher._key, base_url=teacher.base_url, max_retries=0,
                           timeout=teacher.spec.timeout_s)
    audit = {"messages": request.messages, "params": params, "sample_index": 0,
             "stream": True}
    text: list[str] = []
    reasoning: list[str] = []
    finish: str | None = None
    usage: dict[str, Any] | None = None
    t0 = time.perf_counter()
    try:
        with client:
            for chunk in client.chat.completions.create(**body):
                if chunk.usage is not None:
                    usage = chunk.usage.model_dump()
                for choice in chunk.choices:
                    piece = choice.delta.content or ""
                    thought = str((choice.delta.model_extra or {}).get("reasoning_content") or "")
                    finish = choice.finish_reason or finish
                    text.append(piece)
                    reasoning.append(thought)
                    if piece or thought or finish:
                        yield Delta(piece, thought, choice.finish_reason)
    except Exception as exc:
        failure = classify(exc)
        message = teacher.redact(failure.message)
        if teacher.store is not None:
            calls.record_rows(teacher.store, [calls.row(
                cache_key=key, endpoint=teacher.identity, model=teacher.model, request=audit,
                response={"kind": failure.kind, "status": failure.status},
                run_id=teacher.run_id, stage=teacher.stage, latency_s=time.perf_counter() - t0,
                error=f"{failure.kind}: {message}")])
        raise TeacherError(failure.kind, teacher.label, message) from None
    answer = "".join(text)
    record = {"text": answer, "finish_reason": finish,
              "reasoning_content": "".join(reasoning) or None, "logprobs": None}
    tokens_in = int((usage or {}).get("prompt_tokens") or
                    sum(len(str(m.get("content", ""))) for m in request.messages) // 4)
    tokens_out = int((usage or {}).get("completion_tokens") or len(answer) // 4)
    cost = teacher.price.cost(tokens_in, tokens_out) if teacher.price is not None else None
    if teacher.store is not None:
        calls.record_rows(teacher.store, [calls.row(
            cache_key=key, endpoint=teacher.identity, model=teacher.model, request=audit,
            response={**record, "usage": usage, "usage_estimated": usage is None},
            run_id=teacher.run_id, stage=teacher.stage, tokens_in=tokens_in,
            tokens_out=tokens_out, latency_s=time.perf_counter() - t0, cost_usd=cost)])
