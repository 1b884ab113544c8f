"""The GUI's calls into the engine for Setup's buttons, one function per hook.

Each hook imports its engine module when the user asks for it, so the window starts
without model libraries, and returns a HookResult instead of raising, so a failure is a
message in the view. The views call only these functions; when an engine API changes,
only this file changes:

- ``list_models``: GET {base_url}/models (any OpenAI-compatible endpoint);
- ``probe_teacher`` / ``probe_embedded``: engine.teacher's capability probe;
- ``estimate_memory``: engine.student.memory (free GPU memory from nvidia-smi);
- ``template_preview``: engine.student.chat.render_example (trained vs masked tokens).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HookResult:
    """What a hook gives the view: ok, a one-paragraph text, and the raw value if any."""

    ok: bool
    text: str
    value: Any = None


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
        return HookResult(False, f"{url} answered HTTP {exc.code}: {hint}.")
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return HookResult(False, f"cannot reach {url}: {reason}. Is the server running?")
    except ValueError:
        return HookResult(False, f"{url} did not answer JSON: is it an OpenAI-compatible "
                          "endpoint (ending in /v1)?")
    names = sorted(str(m.get("id")) for m in body.get("data", []) if isinstance(m, dict))
    return HookResult(True, f"{len(names)} model(s) at {base_url}", names)


def probe_teacher(base_url: str, model: str, api_key: str | None) -> HookResult:
    """Capability probe of a teacher endpoint (latency, logprobs, JSON mode...)."""
    from engine.teacher.probe import probe_endpoint as probe

    try:
        # local servers (llama.cpp, vLLM, Ollama) accept any key; the client needs one
        report = probe(base_url, model, api_key or "not-needed", timeout_s=30.0)
    except Exception as exc:  # a user-fixable DistillabError or a bug: show it, keep the window
        return HookResult(False, f"probe failed: {exc}")
    return HookResult(report.chat_format, "\n".join(report.lines()), report)


def probe_lab() -> HookResult:
    """Probe the lab's scripted teacher: starts it for the time the probe takes."""
    try:
        from engine.recipes import TeacherSpec
        from engine.teacher.connect import probe_teacher as probe_spec

        report = probe_spec(TeacherSpec(kind="lab", timeout_s=30))
    except Exception as exc:  # llama.cpp's bindings missing, a port refused: say so
        return HookResult(False, f"the lab teacher did not start: {exc}")
    return HookResult(report.chat_format, "\n".join(report.lines()), report)


def probe_embedded(model: str) -> HookResult:
    """Probe the embedded teacher: starts its llama.cpp server for the time the probe takes."""
    try:
        from engine.recipes import TeacherSpec
        from engine.teacher.connect import probe_teacher as probe_spec

        report = probe_spec(TeacherSpec(kind="embedded", model=model or "embedded",
                                        timeout_s=60))
    except Exception as exc:  # a missing model package, a GGUF that does not load: say so
        return HookResult(False, f"the embedded teacher did not start: {exc}")
    return HookResult(report.chat_format, "\n".join(report.lines()), report)


def _student_path(model: str) -> str | None:
    """A student name as a loadable path or hub id; None while the embedded model is not
    converted yet (its first run converts it, in the worker, not in the window)."""
    if model in ("", "embedded"):
        from engine.embedded import embedded_model

        folder = embedded_model(convert=False).hf_dir
        return str(folder) if (folder / "config.json").is_file() else None
    return model


def _free_gpu_bytes() -> int | None:
    """Free memory of the first GPU via nvidia-smi: the window never opens a CUDA context."""
    import shutil
    import subprocess

    if shutil.which("nvidia-smi") is None:
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.free", "--format=csv,noheader,"
                              "nounits"], capture_output=True, text=True, timeout=5).stdout
        return int(out.split()[0]) * 1024 * 1024
    except (OSError, ValueError, IndexError, subprocess.SubprocessError):
        return None


def estimate_memory(model: str, quantization: str, lora_r: int, max_length: int,
                    batch_size: int) -> HookResult:
    """Pre-flight peak-memory estimate of training the student (reads only its config)."""
    from engine.student.memory import estimate_for_student, memory_warning

    path = _student_path(model)
    if path is None:
        return HookResult(False, "the embedded model is converted on its first run; "
                          "the estimate shows after that")
    try:
        est = estimate_for_student(path, quantization=quantization, lora_r=lora_r,
                                   seq_len=max_length, batch=batch_size)
    except Exception as exc:  # unknown id, no network, unreadable config: say so
        return HookResult(False, f"cannot read the model's config: {exc}")
    free = _free_gpu_bytes()
    warning = memory_warning(est, free, batch=batch_size)
    if warning:
        return HookResult(False, "⚠ " + warning, est)
    where = f"; {free / 2**30:.1f} GiB free on the GPU" if free else "; no GPU found here"
    return HookResult(True, est.describe() + where, est)


def template_preview(model: str, messages: list[dict[str, str]]) -> HookResult:
    """One training example rendered with the student's chat template, as a list of
    (text, trained) spans: trained tokens are the completion, masked ones the prompt."""
    from engine.student.chat import render_example

    path = _student_path(model)
    if path is None:
        return HookResult(False, "the embedded model is converted on its first run; "
                          "the preview shows after that")
    try:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(path)
        spans = render_example(tokenizer, messages[:-1], messages[-1]["content"])
    except Exception as exc:
        return HookResult(False, f"chat-template preview failed: {exc}")
    trained = sum(s.n_tokens for s in spans if s.trained)
    total = sum(s.n_tokens for s in spans)
    return HookResult(True, f"{trained} of {total} tokens trained",
                      [(s.text, s.trained) for s in spans])


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
        return HookResult(False, f"cannot save to the keyring: {exc}")
    return HookResult(True, f"key saved in the keyring as {service}/{name}")
