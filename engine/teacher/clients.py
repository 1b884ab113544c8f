"""The HTTP clients a ``Teacher`` sends its chat requests through, built per event loop.

``Connections.clients`` builds, on the running loop, the ``openai.AsyncOpenAI`` clients
(their own retries off: the teacher retries, so every attempt is recorded) and the
request slots, one per ``teacher.concurrency``, handed out most-recent first so the
warmest connection goes next. A plain-http endpoint on this machine (the embedded model,
a local vLLM or llama.cpp server) gets one client, and chat requests are posted through
``LeanChat`` (engine/teacher/lean.py): the same headers and errors, a fifth of the CPU per
request. Each server of a pool (engine/teacher/pool.py) gets its own client. ``post``
sends one chat body and returns the parsed answer; ``pick`` waits for the pool's server.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from engine.recipes import TeacherSpec
from engine.teacher.pool import EndpointPool, Member
from engine.teacher.prices import LOCAL_HOSTS

if TYPE_CHECKING:
    import openai

    from engine.teacher.lean import LeanChat

SHARD = 8  # request slots (and connections) per HTTP client; see Connections.clients


class Connections:
    """The clients of one teacher's endpoint (or pool); see the module doc."""

    def __init__(
        self, spec: TeacherSpec, *, base_url: str, model: str, api_key: str, pool: EndpointPool | None
    ) -> None:
        self.spec = spec
        self.base_url = base_url
        self.model = model
        self.pool = pool
        self._key = api_key
        self.loop_clients: tuple[asyncio.AbstractEventLoop, list[openai.AsyncOpenAI]] | None = None
        self.lean: LeanChat | None = None  # set for plain-http endpoints on this machine
        self.slots: asyncio.LifoQueue[int] | None = None  # free request slots

    def clients(self) -> list[openai.AsyncOpenAI]:
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
        if self.loop_clients is None or self.loop_clients[0] is not loop:
            url = urlparse(self.base_url)
            lean = url.scheme == "http" and (url.hostname or "") in LOCAL_HOSTS
            shards = 1 if lean else -(-self.spec.concurrency // SHARD)
            per = self.spec.concurrency if lean else SHARD  # lean: in case of a redirect
            limits = httpx2.Limits(max_connections=per, max_keepalive_connections=per)
            clients = [
                openai.AsyncOpenAI(
                    api_key=self._key,
                    base_url=self.base_url,
                    max_retries=0,
                    timeout=self.timeout(),
                    http_client=openai.DefaultAsyncHttpxClient(limits=limits, timeout=self.timeout()),
                )
                for _ in range(shards)
            ]
            self.lean = LeanChat(clients[0], self.timeout(), self.spec.concurrency) if lean else None
            self.loop_clients = (loop, clients)
            for member in self.pool.members if self.pool is not None else []:
                local = urlparse(member.base_url)
                member.client = openai.AsyncOpenAI(
                    api_key=member.key,
                    base_url=member.base_url,
                    max_retries=0,
                    timeout=self.timeout(),
                    http_client=openai.DefaultAsyncHttpxClient(
                        limits=httpx2.Limits(
                            max_connections=self.spec.concurrency,
                            max_keepalive_connections=self.spec.concurrency,
                        ),
                        timeout=self.timeout(),
                    ),
                )
                member.lean = (
                    LeanChat(member.client, self.timeout(), self.spec.concurrency)
                    if local.scheme == "http" and (local.hostname or "") in LOCAL_HOSTS
                    else None
                )
            self.slots = asyncio.LifoQueue()
            for slot in reversed(range(self.spec.concurrency)):
                self.slots.put_nowait(slot)
        return self.loop_clients[1]

    def timeout(self) -> Any:
        import httpx2

        return httpx2.Timeout(self.spec.timeout_s, connect=min(10.0, self.spec.timeout_s))

    async def pick(self) -> Member | None:
        """The pool's server for the next attempt, waiting while every server is down
        (None without a pool)."""
        if self.pool is None:
            return None
        while (member := self.pool.pick()) is None:
            await asyncio.sleep(max(0.01, self.pool.wait_s()))
        return member

    async def post(
        self, client: openai.AsyncOpenAI, body: dict[str, Any], member: Member | None = None
    ) -> Any:
        """Send one chat request (to ``member`` of the pool, if given); the parsed JSON."""
        import httpx2

        if member is not None:
            body = body if member.model == self.model else {**body, "model": member.model}
            if member.lean is not None:
                answer = await member.lean.post(body)
                if answer is not None:
                    return json.loads(answer)
            assert member.client is not None
            raw = await member.client.post(
                "/chat/completions", body=body, cast_to=httpx2.Response, options={"timeout": self.timeout()}
            )
            return json.loads(raw.content)
        if self.lean is not None:  # this machine: see engine/teacher/lean.py
            answer = await self.lean.post(body)
            if answer is not None:
                return json.loads(answer)
            self.lean = None  # a redirect: the openai client follows those
        # The client's documented custom-request call: same auth, headers and status errors
        # as chat.completions.create, without its per-request parameter transform and
        # response models.
        raw = await client.post(
            "/chat/completions", body=body, cast_to=httpx2.Response, options={"timeout": self.timeout()}
        )
        return json.loads(raw.content)

    async def aclose(self) -> None:
        """Close the clients of the loop this runs on (the pool's servers' included)."""
        for client in self.loop_clients[1] if self.loop_clients is not None else []:
            await client.close()
        if self.lean is not None:
            await self.lean.aclose()
        for member in self.pool.members if self.pool is not None else []:
            if member.client is not None:
                await member.client.close()
            if member.lean is not None:
                await member.lean.aclose()
            member.client, member.lean = None, None
