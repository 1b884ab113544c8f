"""Sampling k answers per prompt from the student: batched transformers generation, or llama.cpp.

``sample`` renders chat prompts with the model's template (as training does), left-pads
batches, generates with the KV cache, cuts each answer at EOS or the first stop string,
and reports progress and tokens/s through ``on_progress(done, total, tokens_per_s)``.
``sample_gguf`` does the same through llama.cpp on an exported GGUF, which is much faster
on a CPU. Knows nothing of the store or of training.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.student.chat import Prompt, prompt_ids

ProgressFn = Callable[[int, int, float], None]


@dataclass(frozen=True)
class Sample:
    """One answer; tokens counts what the model generated (an ending EOS included);
    finish_reason is "stop" (EOS or a stop string) or "length" (max_new_tokens)."""

    text: str
    tokens: int
    finish_reason: str


def _cut(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """The text before the earliest stop string, and whether one was found."""
    hits = [i for i in (text.find(s) for s in stop if s) if i >= 0]
    return (text[:min(hits)], True) if hits else (text, False)


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """The model's end-of-turn tokens (generation config and tokenizer)."""
    eos = model.generation_config.eos_token_id
    ids: set[int] = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return ids


def sample(model: Any, tokenizer: Any, prompts: Sequence[Prompt], *, k: int = 1,
           temperature: float = 0.7, top_p: float = 1.0, max_new_tokens: int = 256,
           stop: Sequence[str] = (), seed: int = 0, batch_size: int = 8,
           on_progress: ProgressFn | None = None) -> list[list[Sample]]:
    """k samples for each prompt (temperature 0 = greedy); result[i][j] is prompt i's j-th."""
    import torch

    encoded = [prompt_ids(tokenizer, p) for p in prompts]
    # Jobs sorted by prompt length: similar lengths share a batch, so padding stays small.
    jobs = sorted(((i, j) for i in range(len(prompts)) for j in range(k)),
                  key=lambda job: len(encoded[job[0]]))
    out: list[list[Sample | None]] = [[None] * k for _ in prompts]
    eos_ids = _eos_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(eos_ids)
    end_ids = eos_ids | {pad}
    device = next(model.parameters()).device
    greedy = temperature <= 0
    gen_kwargs: dict[str, Any] = dict(
        max_new_tokens=max_new_tokens, do_sample=not greedy, pad_token_id=pad,
        eos_token_id=sorted(eos_ids), use_cache=True)
    if not greedy:
        gen_kwargs.update(temperature=temperature, top_p=top_p, top_k=0)
    if stop:
        gen_kwargs.update(stop_strings=list(stop), tokenizer=tokenizer)
    was_training = model.training
    model.eval()
    torch.manual_seed(seed)
    t0, generated = time.monotonic(), 0
    try:
        for lo in range(0, len(jobs), batch_size):
            chunk = jobs[lo:lo + batch_size]
            width = max(len(encoded[i]) for i, _ in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, (i, _) in enumerate(chunk):
                ids[row, width - len(encoded[i]):] = torch.tensor(encoded[i])
                mask[row, width - len(encoded[i]):] = 1
            with torch.inference_mode():
                result = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                        **gen_kwargs)
            for row, (i, j) in enumerate(chunk):
                new = result[row, width:].tolist()
                cut = next((t for t, tok in enumerate(new) if tok in end_ids), len(new))
                # A row that stopped on a stop string is padded after it: the pad is not
                # a generated token, an EOS is.
                n = cut + (1 if cut < len(new) and new[cut] in eos_ids else 0)
                text, stopped = _cut(tokenizer.decode(new[:cut], skip_special_tokens=True), stop)
                out[i][j] = Sample(text, n, "stop" if cut < len(new) or stopped else "length")
                generated += n
            if on_progress is not None:
                on_progress(min(lo + batch_size, len(jobs)), len(jobs),
                            generated / max(time.monotonic() - t0, 1e-9))
    finally:
        model.train(was_training)
    return [[s for s in row if s is not None] for row in out]


def sample_gguf(gguf: Path, prompts: Sequence[Prompt], *, k: int = 1, temperature: float = 0.7,
                top_p: float = 1.0, max_new_tokens: int = 256, stop: Sequence[str] = (),
                seed: int = 0, n_ctx: int = 4096, n_threads: int | None = None,
                on_progress: ProgressFn | None = None) -> list[list[Sample]]:
    """The same through llama.cpp on a GGUF (chat prompts use the template stored in the GGUF)."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), n_ctx=n_ctx, n_threads=n_threads, seed=seed, verbose=False)
    out: list[list[Sample]] = []
    t0, generated, done = time.monotonic(), 0, 0
    common: dict[str, Any] = dict(max_tokens=max_new_tokens, temperature=max(temperature, 0.0),
                                  top_p=top_p, stop=list(stop) or None)
    if temperature <= 0:
        common["top_k"] = 1
    try:
        for i, prompt in enumerate(prompts):
            row = []
            for j in range(k):
                llm.set_seed(seed + i * k + j)
                if isinstance(prompt, str):
                    resp: Any = llm.create_completion(prompt=prompt, **common)
                    text = resp["choices"][0]["text"]
                else:
                    resp = llm.create_chat_completion(messages=prompt, **common)  # type: ignore[arg-type]
                    text = resp["choices"][0]["message"]["content"] or ""
                n = int(resp["usage"]["completion_tokens"])
                reason = "length" if resp["choices"][0]["finish_reason"] == "length" else "stop"
                row.append(Sample(text, n, reason))
                generated += n
                done += 1
            out.append(row)
            if on_progress is not None:
                on_progress(done, len(prompts) * k,
                            generated / max(time.monotonic() - t0, 1e-9))
    finally:
        llm.close()
    return out
