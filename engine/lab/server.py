"""The lab teacher's HTTP server: the OpenAI chat-completions protocol on 127.0.0.1.

Speaks what the teacher client and the capability probe use: ``GET /v1/models`` and
``POST /v1/chat/completions`` with ``n``, ``max_tokens`` (answers are cut at that many
tokens, ``finish_reason: length``), ``stop``, ``seed`` and ``stream`` (server-sent
events), keep-alive, a bearer key when one is set, 401/404/400 errors shaped like
OpenAI's. Sample ``i`` of a request with ``seed`` s is the scripted answer for sample
index s + i (so n samples in one call equal n calls with seeds s, s+1...). Usage is
counted with the embedded student's tokenizer (``engine.lab.tokens``).

Run by ``engine.teacher.guard --serve lab`` for ``teacher.kind: lab``, or in the
foreground by ``distillab lab teacher``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from engine.lab.scripted import LabOptions, LabRefusal, answer
from engine.lab.tokens import TokenCounter

MODEL = "lab"
MAX_BODY = 16 * 1024 * 1024
DEFAULT_MAX_TOKENS = 4096


class LabServer:
    """Serves the scripted teacher; ``serve_forever`` runs it on the current event loop."""

    def __init__(self, options: LabOptions, *, api_key: str | None = None,
                 counter: TokenCounter | None = None) -> None:
        self.options = options
        self.api_key = api_key
        self.counter = counter or TokenCounter()
        self.requests = 0  # chat requests answered (any outcome)

    # -- the protocol -------------------------------------------------------------------
    def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0,
                                            "owned_by": "distillab-lab"}]}

    def complete(self, body: Any) -> tuple[int, dict[str, Any]]:
        """Status and JSON body for a chat-completions request body."""
        self.requests += 1
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) \
                or not body["messages"]:
            return 400, _error("the request needs a non-empty list of messages",
                               "invalid_request_error")
        if body.get("model") != MODEL:
            return 404, _error(f"The model '{body.get('model')}' does not exist; the lab "
                               f"teacher serves '{MODEL}'", "invalid_request_error",
                               "model_not_found")
        try:
            n = int(body.get("n") or 1)
            max_tokens = int(body.get("max_tokens") or body.get("max_completion_tokens")
                             or DEFAULT_MAX_TOKENS)
            seed = int(body.get("seed") or 0)
        except (TypeError, ValueError):
            return 400, _error("n, max_tokens and seed must be integers", "invalid_request_error")
        if not 1 <= n <= 128 or max_tokens < 1:
            return 400, _error("n must be 1 to 128 and max_tokens at least 1",
                               "invalid_request_error")
        stops = body.get("stop") or []
        stops = [stops] if isinstance(stops, str) else [str(s) for s in stops]
        choices, out_tokens = [], 0
        for i in range(n):
            try:
                text, _ = answer(body["messages"], seed + i, self.options)
            except LabRefusal as exc:
                return 400, _error(str(exc), "invalid_request_error")
            text, finish = _stop_at(text, stops)
            text, cut = self.counter.truncate(text, max_tokens)
            out_tokens += self.counter.count(text)
            choices.append({"index": i, "message": {"role": "assistant", "content": text},
                            "finish_reason": "length" if cut else finish, "logprobs": None})
        prompt_tokens = self.counter.prompt_tokens(body["messages"])
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:24]
        return 200, {"id": f"chatcmpl-lab-{digest}", "object": "chat.completion",
                     "created": int(time.time()), "model": MODEL, "choices": choices,
                     "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": out_tokens,
                               "total_tokens": prompt_tokens + out_tokens}}

    # -- HTTP ---------------------------------------------------------------------------
    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = [*lines[0].split(" ", 2), "", ""][:3]
                headers = {k.strip().lower(): v.strip() for k, _, v in
                           (line.partition(":") for line in lines[1:] if line)}
                length = int(headers.get("content-length") or 0)
                if length > MAX_BODY:
                    await _send(writer, 413, _error("request too large", "invalid_request_error"),
                                close=True)
                    return
                raw = await reader.readexactly(length) if length else b""
                keep = headers.get("connection", "").lower() != "close"
                if not await self._route(method, path.split("?")[0], headers, raw, writer, keep):
                    return
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    async def _route(self, method: str, path: str, headers: dict[str, str], raw: bytes,
                     writer: asyncio.StreamWriter, keep: bool) -> bool:
        """Answer one request; False when the connection is to be closed."""
        if self.api_key and headers.get("authorization") != f"Bearer {self.api_key}":
            await _send(writer, 401, _error("Incorrect API key provided",
                                            "invalid_request_error", "invalid_api_key"), not keep)
            return keep
        if method == "GET" and path.rstrip("/") == "/v1/models":
            await _send(writer, 200, self.models(), not keep)
            return keep
        if method != "POST" or path.rstrip("/") != "/v1/chat/completions":
            await _send(writer, 404, _error(f"no route {method} {path}", "invalid_request_error"),
                        not keep)
            return keep
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            await _send(writer, 400, _error("the body is not JSON", "invalid_request_error"),
                        not keep)
            return keep
        if self.options.latency_s:
            await asyncio.sleep(self.options.latency_s)
        status, payload = self.complete(body)
        if status == 200 and isinstance(body, dict) and body.get("stream"):
            await _stream(writer, payload, bool((body.get("stream_options") or {})
                                                .get("include_usage")))
            return False
        await _send(writer, status, payload, not keep)
        return keep

    async def serve_forever(self, port: int, on_ready: Callable[[int], None] | None = None,
                            ) -> None:
        server = await asyncio.start_server(self.handle, "127.0.0.1", port, backlog=1024)
        async with server:
            if on_ready is not None:
                on_ready(server.sockets[0].getsockname()[1])
            await server.serve_forever()


def _error(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _stop_at(text: str, stops: list[str]) -> tuple[str, str]:
    cuts = [text.find(s) for s in stops if s and s in text]
    return (text[:min(cuts)], "stop") if cuts else (text, "stop")


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
            413: "Payload Too Large"}


async def _send(writer: asyncio.StreamWriter, status: int, payload: dict[str, Any],
                close: bool = False) -> None:
    data = json.dumps(payload).encode()
    head = (f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
            f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n")
    writer.write(head.encode() + data)
    await writer.drain()


async def _stream(writer: asyncio.StreamWriter, payload: dict[str, Any], usage: bool) -> None:
    """The completion as server-sent events: one content chunk and one end chunk a choice."""
    base = {"id": payload["id"], "object": "chat.completion.chunk",
            "created": payload["created"], "model": MODEL}
    events = []
    for choice in payload["choices"]:
        delta = {"role": "assistant", "content": choice["message"]["content"]}
        events.append({**base, "choices": [{"index": choice["index"], "delta": delta,
                                            "finish_reason": None}]})
        events.append({**base, "choices": [{"index": choice["index"], "delta": {},
                                            "finish_reason": choice["finish_reason"]}]})
    if usage:
        events.append({**base, "choices": [], "usage": payload["usage"]})
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                 b"Cache-Control: no-cache\r\nConnection: close\r\n\r\n" + body.encode())
    await writer.drain()


def options_parser() -> argparse.ArgumentParser:
    """The lab teacher's options (shared with ``distillab lab teacher``)."""
    p = argparse.ArgumentParser(prog="engine.lab.server", add_help=False)
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: a free one)")
    p.add_argument("--error-rate", type=float, default=0.0,
                   help="share of answers with one mistake (0 = always right)")
    p.add_argument("--style", default="mixed", choices=["carry", "operation", "copy", "mixed"],
                   help="the kind of mistake")
    p.add_argument("--seed", type=int, default=0, help="which mistakes, where")
    p.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    return p


def options_of(args: argparse.Namespace) -> LabOptions:
    return LabOptions(error_rate=args.error_rate, style=args.style, seed=args.seed,
                      latency_s=args.latency)


def main(argv: list[str], api_key: str | None = None,
         on_ready: Callable[[int], None] | None = None) -> None:
    """Serve until killed (the guard's ``--serve lab`` entry)."""
    args = options_parser().parse_args(argv)
    server = LabServer(options_of(args), api_key=api_key)
    try:
        asyncio.run(server.serve_forever(args.port, on_ready))
    except KeyboardInterrupt:
        pass
