"""Chat requests to a teacher on this machine (plain http on loopback) without per-request overhead.

Building a request through the ``openai`` client (options model, header merge, two URL
parses, httpx's request and send machinery) costs about 0.6 ms of CPU, half of what a
request costs us in all; at 64 requests in flight against a local vLLM or llama.cpp
server that decides how close we come to the server's own rate. So for such endpoints
``Teacher`` posts through ``LeanChat``:

- the head of the request (request line and every header, the API key's included) is
  built once, by the ``openai`` client itself (``_build_request``), so the server sees
  what the client would send; per request only ``Content-Length`` and the body change;
- the bytes go over ``LocalTransport``'s keep-alive connections;
- failures come back as the ``openai`` client's own exceptions: its
  ``_make_status_error_from_response`` for 4xx/5xx (so 401, 404, 429 with
  ``Retry-After`` … map exactly as on the normal path), ``APITimeoutError`` and
  ``APIConnectionError`` (caused by httpx's exception) for the rest.

Remote endpoints, streaming and the capability probe keep the ``openai`` client's own path.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx2

from engine.teacher.transport import LocalTransport

if TYPE_CHECKING:
    import openai

# Header lines the template must not carry: the length changes per request, and the
# transport does not decompress, so "Accept-Encoding: identity" replaces the client's.
_DROPPED = {b"content-length", b"transfer-encoding", b"accept-encoding"}


class LeanChat:
    """POST ``/chat/completions`` with the headers ``client`` would send; see the module doc."""

    def __init__(self, client: openai.AsyncOpenAI, timeout: httpx2.Timeout,
                 connections: int) -> None:
        from openai._models import FinalRequestOptions

        self._client = client
        self._timeout: dict[str, float | None] = timeout.as_dict()
        template = client._build_request(FinalRequestOptions.construct(
            method="post", url="/chat/completions", json_data={}, timeout=timeout))
        self.request = template  # named by the exceptions raised
        self._host, self._port = template.url.host, template.url.port or 80
        lines = [f"POST {template.url.raw_path.decode()} HTTP/1.1".encode("latin-1")]
        lines += [k + b": " + v for k, v in template.headers.raw if k.lower() not in _DROPPED]
        lines.append(b"Accept-Encoding: identity")
        self._head = b"\r\n".join(lines) + b"\r\nContent-Length: "
        self.transport = LocalTransport(max_idle=connections)

    async def post(self, body: dict[str, Any]) -> bytes | None:
        """The answer's body for a 2xx; None for a redirect (the caller sends it through the
        ``openai`` client, which follows it); the ``openai`` client's exceptions otherwise."""
        import openai

        content = json.dumps(body, ensure_ascii=False, allow_nan=False,  # as openai
                             separators=(",", ":")).encode()
        payload = self._head + str(len(content)).encode() + b"\r\n\r\n" + content
        try:
            status, headers, data = await self.transport.exchange(
                self._host, self._port, payload, self._timeout, self.request)
        except httpx2.TimeoutException as exc:
            raise openai.APITimeoutError(request=self.request) from exc
        except httpx2.TransportError as exc:
            raise openai.APIConnectionError(request=self.request) from exc
        if status in (301, 302, 303, 307, 308):
            return None
        if status >= 300:
            response = httpx2.Response(status, headers=headers, content=data,
                                       request=self.request)
            raise self._client._make_status_error_from_response(response)
        return data

    async def aclose(self) -> None:
        await self.transport.aclose()
