"""A small OpenAI-protocol server with fault injection, for tests and the throughput benchmark.

It speaks just enough of the protocol for the teacher client: ``GET /v1/models`` and
``POST /v1/chat/completions`` (JSON and SSE streaming), with keep-alive, on a raw asyncio
socket server (thousands of requests/s on one core, so it never limits the benchmark).

Faults are queued per chat request (``server.faults.append("429:0.2")``), one consumed
per request, in order:

- ``429[:SECONDS]``  rate limited, with ``Retry-After: SECONDS`` (default 0)
- ``500`` / ``503``  server error
- ``slow:SECONDS``   answer only after SECONDS (past the client's timeout)
- ``malformed``      200 with a body that is not JSON
- ``drop``           close the connection without answering
- ``context``        400 "context length exceeded"
- ``filter``         a completion whose finish_reason is content_filter
- ``307``            redirect to the same path (a client that follows it asks again)
- ``ok``             answer normally

A wrong or missing bearer key gives 401 (when ``api_key`` is set); an unknown model 404.
Models named ``*reasoner*`` return ``reasoning_content``. ``server.responder`` (a function of
the request and the sample index) replaces the echo with scripted answers. ``honor_n=False`` mimics servers
(llama.cpp) that return one choice whatever ``n`` asks for; ``serial=True`` answers one chat
request at a time, each after ``delay_s`` (a server bound by its GPU; bench/teacher_pool.py).

Run alone: ``python tests/fake_openai_server.py --delay 0.2`` prints ``PORT <n>``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import threading
import time
from collections.abc import Callable
from typing import Any

DEFAULT_MODELS = ("fake-model", "fake-reasoner")


class FakeServer:
    """The server state; ``start()`` serves it from a background thread, ``serve()`` in a loop."""

    def __init__(self, *, delay_s: float = 0.0, api_key: str | None = None,
                 models: tuple[str, ...] = DEFAULT_MODELS, honor_n: bool = True,
                 port: int = 0, serial: bool = False) -> None:
        self.delay_s = delay_s
        self.api_key = api_key
        self.models = models
        self.honor_n = honor_n
        self.port = port
        self.serial = serial  # one chat request at a time (a server bound by its GPU)
        self._one_at_a_time: asyncio.Lock | None = None
        self.answered = 0  # chat completions answered 200
        self.faults: collections.deque[str] = collections.deque()
        self.chat_requests = 0  # POST /v1/chat/completions received (any outcome)
        self.requests = 0  # every HTTP request received
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []  # of each chat request, names lower-cased
        self.keep_bodies = True
        self.in_flight = 0  # chat requests inside their ``delay_s`` now
        self.max_in_flight = 0  # ... at most at once so far (how concurrent the client was)
        # (request, sample index) -> answer text; None: echo the prompt
        self.responder: Callable[[dict[str, Any], int], str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- life cycle ---------------------------------------------------------------------
    async def open(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port,
                                                  backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    def start(self) -> FakeServer:
        ready = threading.Event()

        def main() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.open())
            ready.set()
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=main, name="fake-openai", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is None or self._server is None:
            return
        loop, server = self._loop, self._server

        async def shutdown() -> None:
            server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        if self._thread:
            self._thread.join(5)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP ---------------------------------------------------------------------------
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, v in
                           (line.split(":", 1) for line in lines[1:] if ":" in line)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.requests += 1
                keep = await self._handle(method, path, headers, body, writer)
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    @staticmethod
    def _send(writer: asyncio.StreamWriter, status: int, payload: Any,
              extra: dict[str, str] | None = None, raw: bytes | None = None) -> None:
        body = raw if raw is not None else json.dumps(payload).encode()
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
                  307: "Temporary Redirect", 429: "Too Many Requests", 500: "Internal Server Error",
                  503: "Service Unavailable"}.get(status, "Status")
        head = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json",
                f"Content-Length: {len(body)}", "Connection: keep-alive"]
        head += [f"{k}: {v}" for k, v in (extra or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)

    @staticmethod
    def _error(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
        return {"error": {"message": message, "type": kind, "code": code, "param": None}}

    async def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes,
                      writer: asyncio.StreamWriter) -> bool:
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            self._send(writer, 401, self._error("Incorrect API key provided.",
                                                "invalid_request_error", "invalid_api_key"))
            await writer.drain()
            return True
        if method == "GET" and path.rstrip("/").endswith("/models"):
            self._send(writer, 200, {"object": "list", "data": [
                {"id": m, "object": "model", "owned_by": "fake"} for m in self.models]})
            await writer.drain()
            return True
        if method != "POST" or not path.rstrip("/").endswith("/chat/completions"):
            self._send(writer, 404, self._error(f"no route {method} {path}", "not_found"))
            await writer.drain()
            return True
        self.chat_requests += 1
        request = json.loads(body)
        if self.keep_bodies:
            self.bodies.append(request)
            self.headers.append(headers)
        fault = self.faults.popleft() if self.faults else "ok"
        name, _, arg = fault.partition(":")
        if name == "drop":
            return False
        if name == "slow":
            await asyncio.sleep(float(arg))
        if self.delay_s and self.serial:
            if self._one_at_a_time is None:
                self._one_at_a_time = asyncio.Lock()
            async with self._one_at_a_time:
                await asyncio.sleep(self.delay_s)
        elif self.delay_s:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            await asyncio.sleep(self.delay_s)
            self.in_flight -= 1
        if name == "429":
            self._send(writer, 429, self._error("Rate limit reached.", "requests",
                                                "rate_limit_exceeded"),
                       {"Retry-After": arg or "0"})
        elif name == "307":
            self._send(writer, 307, {}, {"Location": path})
        elif name in ("500", "503"):
            self._send(writer, int(name), self._error("The server had an error.", "server_error"))
        elif name == "malformed":
            self._send(writer, 200, None, raw=b'{"id": "x", "choices": [ this is not json')
        elif name == "context":
            self._send(writer, 400, self._error(
                "This model's maximum context length is 128 tokens. However, you requested "
                "4000 tokens.", "invalid_request_error", "context_length_exceeded"))
        elif request.get("model") not in self.models:
            self._send(writer, 404, self._error(
                f"The model `{request.get('model')}` does not exist or you do not have access "
                "to it.", "invalid_request_error", "model_not_found"))
        elif request.get("stream"):
            await self._stream(writer, request)
        else:
            self._send(writer, 200, self._completion(request, name == "filter"))
            self.answered += 1
        await writer.drain()
        return True

    # -- answers ------------------------------------------------------------------------
    def _completion(self, request: dict[str, Any], filtered: bool = False) -> dict[str, Any]:
        messages = request.get("messages") or [{}]
        prompt = str(messages[-1].get("content", ""))
        n = int(request.get("n") or 1) if self.honor_n else 1
        choices = []
        for i in range(n):
            text = (self.responder(request, i) if self.responder is not None
                    else f"echo {i} seed {request.get('seed')}: {prompt}")
            message: dict[str, Any] = {"role": "assistant", "content": text}
            if "reasoner" in str(request.get("model")):
                message["reasoning_content"] = f"thinking about {prompt}"
            choice: dict[str, Any] = {"index": i, "message": message,
                                      "finish_reason": "content_filter" if filtered else "stop"}
            if request.get("logprobs"):
                choice["logprobs"] = {"content": [
                    {"token": w, "logprob": -0.5, "bytes": None,
                     "top_logprobs": [{"token": w, "logprob": -0.5, "bytes": None}]}
                    for w in text.split()]}
            choices.append(choice)
        words_in = sum(len(str(m.get("content", "")).split()) for m in messages)
        words_out = sum(len(c["message"]["content"].split()) for c in choices)
        return {"id": f"chatcmpl-{self.chat_requests}", "object": "chat.completion",
                "created": int(time.time()), "model": request.get("model"), "choices": choices,
                "usage": {"prompt_tokens": words_in, "completion_tokens": words_out,
                          "total_tokens": words_in + words_out}}

    async def _stream(self, writer: asyncio.StreamWriter, request: dict[str, Any]) -> None:
        full = self._completion({**request, "n": 1})
        text = full["choices"][0]["message"]["content"]
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n")

        def chunk(payload: str) -> None:
            data = f"data: {payload}\n\n".encode()
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")

        for word in text.split(" "):
            delta = {"id": full["id"], "object": "chat.completion.chunk", "model": full["model"],
                     "choices": [{"index": 0, "delta": {"content": word + " "},
                                  "finish_reason": None}]}
            chunk(json.dumps(delta))
            await writer.drain()
        last = {"id": full["id"], "object": "chat.completion.chunk", "model": full["model"],
                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                "usage": full["usage"]}
        chunk(json.dumps(last))
        chunk("[DONE]")
        writer.write(b"0\r\n\r\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--serial", action="store_true",
                        help="answer one chat request at a time (like a GPU-bound server)")
    args = parser.parse_args()
    server = FakeServer(delay_s=args.delay, port=args.port, api_key=args.api_key,
                        serial=args.serial)
    server.keep_bodies = False

    async def serve() -> None:
        await server.open()
        print(f"PORT {server.port}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
