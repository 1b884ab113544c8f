"""Keep-alive HTTP/1.1 connections to a teacher on this machine (plain http to localhost).

``LocalTransport.exchange`` sends one complete request (head and body bytes, built by
``engine.teacher.lean``) over asyncio streams and reads the answer, with Content-Length
or a chunked body, each phase under the request's timeouts. Idle connections are reused
most-recent first (the warmest one), one the server has closed meanwhile is dropped.
Failures are raised as httpx's exception types (``ConnectError``, ``ConnectTimeout``,
``ReadTimeout``, ``RemoteProtocolError``), which ``LeanChat`` turns into the ``openai``
client's.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx2

_Conn = tuple[asyncio.StreamReader, asyncio.StreamWriter]
# A connection idle longer than this is not reused: uvicorn (vLLM, llama-cpp-python's
# server) closes idle keep-alive connections after 5 s, and a request sent just as it
# does would fail as a dropped connection and cost a retry.
IDLE_REUSE_S = 4.0


class LocalTransport:
    """A pool of keep-alive connections; see the module doc."""

    def __init__(self, max_idle: int = 64) -> None:
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []
        self._max_idle = max_idle  # the client's request slots bound the connections in use

    async def exchange(self, host: str, port: int, payload: bytes,
                       timeout: dict[str, float | None], request: httpx2.Request | None = None,
                       ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Send one complete HTTP/1.1 request (head and body bytes); status, headers, body."""
        conn = self._reuse() or await self._connect(host, port, timeout, request)
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
        if keep and len(self._idle) < self._max_idle:
            self._idle.append((*conn, time.monotonic()))
        else:
            conn[1].close()
        return status, headers, content

    def _reuse(self) -> _Conn | None:
        """The most recent idle connection the server has not closed (nor may be closing)."""
        now = time.monotonic()
        while self._idle:
            reader, writer, since = self._idle.pop()
            if now - since < IDLE_REUSE_S and not reader.at_eof() and not writer.is_closing():
                return reader, writer
            writer.close()
        return None

    async def _connect(self, host: str, port: int, timeout: dict[str, Any],
                       request: httpx2.Request | None) -> _Conn:
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
            # asyncio.timeout, not wait_for: no extra task per request (3.11's wait_for makes one)
            async with asyncio.timeout(read_timeout):
                return await read()
        except TimeoutError as exc:
            raise httpx2.ReadTimeout("read timed out") from exc
        except asyncio.LimitOverrunError as exc:
            raise httpx2.RemoteProtocolError(f"response head too long ({exc})") from exc

    async def aclose(self) -> None:
        for _, writer, _ in self._idle:
            writer.close()
        self._idle.clear()
