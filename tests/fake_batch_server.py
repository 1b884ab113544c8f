"""The fake OpenAI-protocol server plus the Files and Batches endpoints, for batch job tests.

``FakeBatchServer`` is ``FakeServer`` (tests/fake_openai_server.py) that also serves:

- ``POST /v1/files`` (multipart, purpose ``batch``) and ``GET /v1/files/{id}/content``;
- ``POST /v1/batches`` and ``GET /v1/batches/{id}``.

A batch is ``validating``, then ``in_progress`` for ``polls_to_finish`` polls, then ends:
``completed`` (every line answered through the same code as a chat request, into the
output file), with ``line_fault(body) -> status`` lines answered with that error status
instead (into the error file), or ``expired`` when ``expire_after`` is set: only the first
``expire_after`` lines answered, the rest in the error file with code ``batch_expired``,
as the OpenAI Batch API does.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from typing import Any

from .fake_openai_server import FakeServer


class FakeBatchServer(FakeServer):
    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.uploads = 0
        self.batches_created = 0
        self.polls = 0
        self.polls_to_finish = 2
        self.line_fault: Callable[[dict[str, Any]], int | None] | None = None
        self.expire_after: int | None = None
        self._polled: dict[str, int] = {}

    def _new_file(self, data: bytes, purpose: str, name: str) -> dict[str, Any]:
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = data
        return {"id": file_id, "object": "file", "bytes": len(data), "filename": name,
                "created_at": int(time.time()), "purpose": purpose, "status": "processed"}

    async def _handle(self, method: str, path: str, headers: dict[str, str], body: bytes,
                      writer: asyncio.StreamWriter) -> bool:
        route = path.split("?")[0].rstrip("/")
        if not re.search(r"/v1/(files|batches)(/|$)", route):
            return await super()._handle(method, path, headers, body, writer)
        if self.api_key is not None and headers.get("authorization") != f"Bearer {self.api_key}":
            self._send(writer, 401, self._error("Incorrect API key provided.",
                                                "invalid_request_error", "invalid_api_key"))
        elif method == "POST" and route.endswith("/v1/files"):
            fields = _multipart(headers.get("content-type", ""), body)
            self.uploads += 1
            self._send(writer, 200, self._new_file(fields.get("file", b""),
                                                   fields.get("purpose", b"").decode(),
                                                   "batch.jsonl"))
        elif method == "GET" and (m := re.search(r"/v1/files/([^/]+)/content$", route)):
            if m.group(1) in self.files:
                self._send(writer, 200, None, raw=self.files[m.group(1)])
            else:
                self._send(writer, 404, self._error("no such file", "invalid_request_error"))
        elif method == "POST" and route.endswith("/v1/batches"):
            request = json.loads(body)
            if request.get("input_file_id") not in self.files:
                self._send(writer, 400, self._error("unknown input file",
                                                    "invalid_request_error"))
            else:
                self.batches_created += 1
                batch_id = f"batch_{self.batches_created}"
                self.batches[batch_id] = {
                    "id": batch_id, "object": "batch", "endpoint": request.get("endpoint"),
                    "input_file_id": request["input_file_id"],
                    "completion_window": request.get("completion_window"),
                    "status": "validating", "created_at": int(time.time()),
                    "output_file_id": None, "error_file_id": None, "errors": None,
                    "metadata": request.get("metadata"),
                    "request_counts": {"total": 0, "completed": 0, "failed": 0}}
                self._send(writer, 200, self.batches[batch_id])
        elif method == "GET" and (m := re.search(r"/v1/batches/([^/]+)$", route)):
            batch = self.batches.get(m.group(1))
            if batch is None:
                self._send(writer, 404, self._error("no such batch", "invalid_request_error"))
            else:
                self.polls += 1
                self._advance(batch)
                self._send(writer, 200, batch)
        else:
            self._send(writer, 404, self._error(f"no route {method} {path}", "not_found"))
        await writer.drain()
        return True

    def _advance(self, batch: dict[str, Any]) -> None:
        if batch["status"] not in ("validating", "in_progress"):
            return
        polled = self._polled[batch["id"]] = self._polled.get(batch["id"], 0) + 1
        if polled < self.polls_to_finish:
            batch["status"] = "in_progress"
            return
        lines = [json.loads(t) for t in self.files[batch["input_file_id"]].decode().splitlines()
                 if t.strip()]
        out, errors = [], []
        for i, line in enumerate(lines):
            record: dict[str, Any] = {"id": f"batch_req_{i}", "custom_id": line["custom_id"]}
            status = self.line_fault(line["body"]) if self.line_fault else None
            if self.expire_after is not None and i >= self.expire_after:
                errors.append({**record, "response": None, "error": {
                    "code": "batch_expired", "message": "This request could not be executed "
                    "before the completion window expired."}})
            elif status is not None:
                errors.append({**record, "error": None, "response": {
                    "status_code": status, "request_id": f"req_{i}",
                    "body": self._error("The server had an error.", "server_error")}})
            else:
                self.answered += 1
                out.append({**record, "error": None, "response": {
                    "status_code": 200, "request_id": f"req_{i}",
                    "body": self._completion(line["body"])}})

        def jsonl(rows: list[dict[str, Any]]) -> bytes:
            return "".join(json.dumps(r) + "\n" for r in rows).encode()

        batch["output_file_id"] = self._new_file(jsonl(out), "batch_output", "out.jsonl")["id"] \
            if out else None
        batch["error_file_id"] = self._new_file(jsonl(errors), "batch_output", "err.jsonl")["id"] \
            if errors else None
        batch["status"] = "expired" if self.expire_after is not None else "completed"
        batch["request_counts"] = {"total": len(lines), "completed": len(out),
                                   "failed": len(errors)}


def _multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    """The fields of a multipart/form-data body, by name."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        return {}
    fields = {}
    for part in body.split(b"--" + match.group(1).encode()):
        head, sep, content = part.partition(b"\r\n\r\n")
        name = re.search(rb'name="([^"]+)"', head)
        if sep and name:
            fields[name.group(1).decode()] = content[:-2] if content.endswith(b"\r\n") else content
    return fields
