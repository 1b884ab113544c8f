"""Adapters to engine features that other work packages provide, one function per hook.

Each hook imports its engine module lazily, when the user asks for it, so the GUI starts
without model libraries, and says "not available yet" when that module is not there.
The views call only these functions; when an engine API lands or changes, only this file
changes. Pending at the time of writing:

- ``probe_teacher``  -> engine.teacher.probe.probe_endpoint(base_url, model, key)  (done)
- ``estimate_memory`` -> engine.student.memory.estimate(model, quantization, lora_r,
                         max_length, batch_size)                                   (issue 4)
- ``template_preview`` -> engine.student.template.render_example(model, messages)  (issue 4)

``list_models`` works today: any OpenAI-compatible endpoint answers GET {base_url}/models.
"""

from __future__ import annotations

import importlib
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HookResult:
    """What a hook gives the view: ok, a one-paragraph text, and the raw value if any."""

    available: bool
    ok: bool
    text: str
    value: Any = None


def _pending(feature: str, module: str, issue: int) -> HookResult:
    return HookResult(False, False, f"{feature}: not available yet (waits for {module}, "
                      f"issue {issue}).")


def _engine_function(module: str, name: str) -> Any | None:
    try:
        mod = importlib.import_module(module)
    except ImportError:
        return None
    return getattr(mod, name, None)


def list_models(base_url: str, api_key: str | None, timeout_s: float = 5.0) -> HookResult:
    """Model names the endpoint serves (GET /models, the OpenAI-compatible listing)."""
    url = base_url.rstrip("/") + "/models"
    request = urllib.request.Request(url)
    if api_key:
        request.add_header("Authorization", f"Bearer {api_key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        hint = "check the API key" if exc.code in (401, 403) else "check the URL"
        return HookResult(True, False, f"{url} answered HTTP {exc.code}: {hint}.")
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return HookResult(True, False, f"cannot reach {url}: {reason}. Is the server running?")
    except ValueError:
        return HookResult(True, False, f"{url} did not answer JSON: is it an OpenAI-compatible "
                          "endpoint (ending in /v1)?")
    names = sorted(str(m.get("id")) for m in body.get("data", []) if isinstance(m, dict))
    return HookResult(True, True, f"{len(names)} model(s) at {base_url}", names)


def probe_teacher(base_url: str, model: str, api_key: str | None) -> HookResult:
    """Capability probe of a teacher endpoint (latency, logprobs, JSON mode...)."""
    probe = _engine_function("engine.teacher.probe", "probe_endpoint")
    if probe is None:
        return _pending("Capability probe", "engine.teacher.probe", 3)
    try:
        # local servers (llama.cpp, vLLM, Ollama) accept any key; the client needs one
        report = probe(base_url, model, api_key or "not-needed", timeout_s=30.0)
    except Exception as exc:  # a user-fixable DistillabError or a bug: show it, keep the window
        return HookResult(True, False, f"probe failed: {exc}")
    return HookResult(True, report.chat_format, "\n".join(report.lines()), report)


def estimate_memory(model: str, quantization: str, lora_r: int, max_length: int,
                    batch_size: int) -> HookResult:
    """Pre-flight peak-memory estimate of training the student."""
    estimate = _engine_function("engine.student.memory", "estimate")
    if estimate is None:
        return _pending("Memory estimate", "engine.student.memory", 4)
    try:
        report = estimate(model, quantization, lora_r, max_length, batch_size)
    except Exception as exc:
        return HookResult(True, False, f"memory estimate failed: {exc}")
    return HookResult(True, True, str(report), report)


def template_preview(model: str, messages: list[dict[str, str]]) -> HookResult:
    """One training example rendered with the student's chat template, as a list of
    (text, trained) spans: trained tokens are the completion, masked ones the prompt."""
    render = _engine_function("engine.student.template", "render_example")
    if render is None:
        return _pending("Chat-template preview", "engine.student.template", 4)
    try:
        spans = render(model, messages)
    except Exception as exc:
        return HookResult(True, False, f"chat-template preview failed: {exc}")
    return HookResult(True, True, "", spans)


def keyring_key(service: str, name: str) -> str | None:
    """An API key from the system keyring (None when absent or no keyring backend)."""
    try:
        import keyring

        return keyring.get_password(service, name)
    except Exception:  # no backend on a headless machine: the env var route still works
        return None


def save_keyring_key(service: str, name: str, key: str) -> HookResult:
    try:
        import keyring

        keyring.set_password(service, name, key)
    except Exception as exc:
        return HookResult(True, False, f"cannot save to the keyring: {exc}")
    return HookResult(True, True, f"key saved in the keyring as {service}/{name}")
