"""What an endpoint can do: ``distillab teacher check`` and the GUI's "Test endpoint" button.

``probe_endpoint`` lists the endpoint's models, times a short chat request, and reports whether
the answer comes in the chat format, whether logprobs and ``reasoning_content`` come
back and whether ``n > 1`` is honoured. A wrong key, unknown model or unreachable host
raises ``TeacherError`` with the fix, exactly as a run would.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from engine.teacher.errors import TeacherError, classify
from engine.teacher.keys import redact

QUESTION = "What is 2+3? Answer with the number only."


@dataclass
class ProbeReport:
    endpoint: str
    model: str
    models: list[str] | None = None  # None: the endpoint has no /models list
    model_listed: bool | None = None
    latency_s: float | None = None  # one short chat request, end to end
    chat_format: bool = False  # a choice with an assistant message holding text
    answer: str = ""
    logprobs: bool = False
    reasoning_content: bool = False
    n_samples: bool = False  # honours n > 1 (else the client sends one request a sample)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        yes = {True: "yes", False: "no", None: "unknown"}
        shown = ", ".join(self.models[:20]) if self.models else "(not listed)"
        return [
            f"endpoint           {self.endpoint}",
            f"models             {shown}",
            f"model {self.model!r} listed: {yes[self.model_listed]}",
            f"latency            {self.latency_s:.2f} s" if self.latency_s is not None
            else "latency            -",
            f"chat format        {yes[self.chat_format]} (answer: {self.answer[:60]!r})",
            f"logprobs           {yes[self.logprobs]}",
            f"reasoning_content  {yes[self.reasoning_content]}",
            f"n > 1 samples      {yes[self.n_samples]}",
            *[f"note: {n}" for n in self.notes],
        ]


def probe_endpoint(base_url: str, model: str, api_key: str, *,
                   timeout_s: float = 60.0) -> ProbeReport:
    import httpx2
    import openai

    endpoint = base_url.rstrip("/")
    report = ProbeReport(endpoint, model)
    client = openai.OpenAI(api_key=api_key, base_url=endpoint, max_retries=0, timeout=timeout_s)

    def fail(exc: Exception) -> TeacherError:
        failure = classify(exc)
        return TeacherError(failure.kind, endpoint, redact(failure.message, api_key))

    with client:
        try:
            report.models = sorted(m.id for m in client.models.list())
            report.model_listed = model in report.models
            if not report.model_listed:
                report.notes.append(f"{model!r} is not in the endpoint's model list")
        except openai.NotFoundError:
            report.notes.append("the endpoint has no /models list")
        except Exception as exc:
            raise fail(exc) from None
        body: dict[str, Any] = {"model": model, "max_tokens": 24, "temperature": 0.7,
                                "messages": [{"role": "user", "content": QUESTION}]}
        data = None
        for extra in ({"logprobs": True, "top_logprobs": 2, "n": 2}, {"n": 2}, {}):
            t0 = time.perf_counter()
            try:
                raw = client.post("/chat/completions", body={**body, **extra},
                                  cast_to=httpx2.Response)
                data = json.loads(raw.content)
            except openai.BadRequestError as exc:
                report.notes.append(f"rejected {sorted(extra)}: {exc.message[:120]}")
                continue
            except Exception as exc:
                raise fail(exc) from None
            report.latency_s = time.perf_counter() - t0
            break
    if data is None:
        report.notes.append("no chat request succeeded")
        return report
    choices = data.get("choices") or []
    message = (choices[0].get("message") or {}) if choices else {}
    report.answer = str(message.get("content") or "")
    report.chat_format = bool(choices) and message.get("role") == "assistant" and \
        isinstance(message.get("content"), str)
    report.logprobs = bool(choices and (choices[0].get("logprobs") or {}).get("content"))
    report.reasoning_content = bool(message.get("reasoning_content") or message.get("reasoning"))
    report.n_samples = len(choices) >= 2
    return report
