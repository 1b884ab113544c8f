"""A lean HTTP/1.1 transport for teachers on this machine (plain http to localhost).

The ``openai`` client sends through httpx2, whose default transport (httpcore2 on anyio)
costs about a millisecond of CPU per request; at 64 requests in flight against a local
vLLM or llama.cpp server that is most of the client's CPU. This transport speaks just
HTTP/1.1 with keep-alive over asyncio streams: request in one write, response with
Content-Length or chunked body, each phase under the request's timeouts. It raises
httpx2's own exception types, so the ``openai`` client maps them exactly as before.
Remote endpoints (https, proxies) keep httpx2's default transport.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2

# Idle keep-alive connections kept per transport; the client's slots bound those in use.
MAX_IDLE = 64
_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class LocalTransport(httpx2.AsyncBaseTransport):
    def __init__(self) -> None:
        self._idle: list[_Conn] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        timeout: dict[str, float | None] = request.extensions.get("timeout", {})
        body = await request.aread()
        head = [f"{request.method} {request.url.raw_path.decode()} HTTP/1.1"]
        head += [f"{k.decode()}: {v.decode()}" for k, v in request.headers.raw]
        if "content-length" not in request.headers and body:
            head.append(f"Content-Length: {len(body)}")
        payload = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        conn = self._reuse() or await self._connect(request, timeout)
        try:
            conn[1].write(payload)
            status, headers, content, keep = await self._read(conn[0], timeout.get("read"))
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            conn[1].close()
            raise httpx2.RemoteProtocolError(f"server disconnected ({exc!r})",
                                             request=request) from exc
        except BaseException:
            conn[1].close()
            raise
        if keep and len(self._idle) < MAX_IDLE:
            self._idle.append(conn)
        else:
            conn[1].close()
        return httpx2.Response(status, headers=headers, content=content,
                               extensions={"http_version": b"HTTP/1.1"})

    def _reuse(self) -> _Conn | None:
        """The most recent idle connection the server has not closed meanwhile."""
        while self._idle:
            reader, writer = self._idle.pop()
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer
            writer.close()
        return None

    async def _connect(self, request: httpx2.Request, timeout: dict[str, Any]) -> _Conn:
        host, port = request.url.host, request.url.port or 80
        try:
            return await asyncio.wait_for(asyncio.open_connection(host, port),
                                          timeout.get("connect"))
        except TimeoutError as exc:
            raise httpx2.ConnectTimeout(str(exc) or "connect timed out", request=request) from exc
        except OSError as exc:
            raise httpx2.ConnectError(str(exc), request=request) from exc

    @staticmethod
    async def _read(reader: asyncio.StreamReader, read_timeout: float | None
                    ) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
        async def read() -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
            raw = await reader.readuntil(b"\r\n\r\n")
            lines = raw[:-4].split(b"\r\n")
            parts = lines[0].split(b" ", 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
                raise httpx2.RemoteProtocolError(f"not an HTTP response: {lines[0][:80]!r}")
            headers = [(k.strip(), v.strip()) for k, _, v in
                       (line.partition(b":") for line in lines[1:])]
            fields = {k.lower(): v for k, v in headers}
            keep = fields.get(b"connection", b"").lower() != b"close" and parts[0] == b"HTTP/1.1"
            if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
                chunks = []
                while True:
                    size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    chunk = await reader.readexactly(size + 2)
                    if size == 0:
                        break
                    chunks.append(chunk[:-2])
                content = b"".join(chunks)
                headers = [(k, v) for k, v in headers if k.lower() != b"transfer-encoding"]
            elif b"content-length" in fields:
                content = await reader.readexactly(int(fields[b"content-length"]))
            else:
                content, keep = await reader.read(), False
            return int(parts[1]), headers, content, keep

        try:
            return await asyncio.wait_for(read(), read_timeout)
        except TimeoutError as exc:
            raise httpx2.ReadTimeout("read timed out") from exc
        except asyncio.LimitOverrunError as exc:
            raise httpx2.RemoteProtocolError(f"response head too long ({exc})") from exc

    async def aclose(self) -> None:
        for _, writer in self._idle:
            writer.close()
        self._idle.clear()
