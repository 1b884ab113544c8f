"""REER's score of a thinking z: how predictable it makes the reference answer y.

The scoring context is the task alone (the student's chat prompt, no answer), then the
layout up to the answer (by default ``<think>\\nz\\n</think>\\n<answer>\\n``), then y's
first segment, all as context; the score is the mean negative log-prob of the rest of
y's tokens, each log-prob clipped to [-clip, 0] (PAPERS.md section 5; lower is better).
An answer of a single segment is scored whole. Tokenised as ``engine.student.score``
does; the forward passes are batched, and the candidates of one item (edits of one z) run
the token prefix they share (task and segments before the edit) once, then only their own
suffixes on its key/value cache. On a CPU that multiplies bf16 natively the scorer's model
may be cast to bfloat16 (``resolve_dtype``, ``to_scoring_dtype``): scores within a few
thousandths of the float32 ones for half the CPU time or less. Also the answer part of a
student's output in the layout.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.paradigms.reer.formats import split_answer

Messages = list[dict[str, str]]


@dataclass(frozen=True)
class Scored:
    score: float  # mean clipped negative log-prob of the scored part of y (lower is better)
    tokens: int  # tokens scored
    input_tokens: int  # tokens in the forward pass: the scoring cost


def before_answer(layout: str, thinking: str) -> str:
    """The layout's text up to where the answer starts, with the thinking filled in."""
    return layout.split("{answer}", 1)[0].replace("{thinking}", thinking)


def completion(layout: str, thinking: str, answer: str) -> str:
    """The whole assistant text: what the student is trained to write."""
    return layout.replace("{thinking}", thinking).replace("{answer}", answer)


def resolve_dtype(choice: str, model: Any) -> str | None:
    """``search.score_dtype`` made concrete: "bfloat16" to score in bf16, None to keep the
    model's own dtype (float32 on a CPU; on a GPU the student already computes in bf16)."""
    if choice == "float32":
        return None
    if choice == "bfloat16":
        return choice
    import torch

    device = next(model.parameters()).device
    if device.type == "cuda":
        return "bfloat16" if torch.cuda.is_bf16_supported() else None
    if device.type != "cpu":
        return None
    native = [getattr(torch.cpu, name, None) for name in
              ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    try:
        return "bfloat16" if any(f() for f in native if f is not None) else None
    except RuntimeError:  # a torch build without the probes
        return None


def to_scoring_dtype(model: Any, dtype: str | None) -> Any:
    """The model made ready to score in ``dtype`` (in place; load a copy of its own for it):
    a float32 model cast to bfloat16, and on a CPU eager attention, which multiplies bf16
    faster than the CPU's flash kernel (measured: 25% less CPU time for the scorer)."""
    import torch

    if dtype != "bfloat16" or getattr(model, "is_quantized", False):
        return model  # a quantized model already computes in its compute dtype
    if any(p.dtype == torch.float32 for p in model.parameters()):
        model.to(torch.bfloat16)
    if next(model.parameters()).device.type == "cpu":
        model.set_attn_implementation("eager")
    return model


def score_thinkings(model: Any, tokenizer: Any, prompts: Sequence[Messages],
                    thinkings: Sequence[str], answers: Sequence[str], *, layout: str,
                    clip: float = 2.0, batch_size: int = 16,
                    min_segment_chars: int = 100) -> list[Scored]:
    """One ``Scored`` per (prompt, thinking, answer), in order, in batched forward passes;
    candidates that share a long token prefix (the same item's edits) share its pass."""
    from engine.student.score import target_tokens

    heads, rests = zip(*(split_answer(a, min_segment_chars) for a in answers), strict=True) \
        if answers else ((), ())
    encoded = [target_tokens(tokenizer, p, rest, before_answer(layout, z) + head)
               for p, z, head, rest in zip(prompts, thinkings, heads, rests, strict=True)]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    logprobs = target_logprobs(model, encoded, pad=pad, batch_size=batch_size)
    out = []
    for (ids, _start), lp in zip(encoded, logprobs, strict=True):
        used = [min(max(v, -clip), 0.0) for v in lp]
        out.append(Scored(-sum(used) / len(used) if used else math.nan, len(used), len(ids)))
    return out


# A prefix shorter than this is not worth a pass of its own (the chat template's system
# prompt alone is ~30 tokens; an item's shared task + thinking is hundreds).
MIN_SHARED = 64
HEAD_ROWS = 512


def shared_groups(encoded: Sequence[tuple[list[int], int]]) -> list[tuple[int, list[int]]]:
    """Candidates grouped by a common token prefix they can share: (prefix length, indices).

    Sequences sorted by their tokens put those with a common beginning side by side; a group
    keeps growing while the prefix it shares stays at least half of what its first two
    share. The shared prefix ends before every member's first scored position, so each
    member's scored hidden states all come from its own suffix. A group of one shares 0.
    """
    order = sorted(range(len(encoded)), key=lambda i: encoded[i][0])
    groups: list[tuple[int, list[int]]] = []
    for i in order:
        ids, start = encoded[i]
        if groups:
            shared, members = groups[-1]
            first = encoded[members[0]][0]
            common = min(_common(first, ids), start - 1,
                         *(encoded[j][1] - 1 for j in members))
            if len(members) == 1 and common >= MIN_SHARED:
                groups[-1] = (common, [*members, i])
                continue
            if len(members) > 1 and common >= max(MIN_SHARED, shared // 2):
                groups[-1] = (min(shared, common), [*members, i])
                continue
        groups.append((0, [i]))
    return groups


def _common(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for k in range(n):
        if a[k] != b[k]:
            return k
    return n


def target_logprobs(model: Any, encoded: Sequence[tuple[list[int], int]], *, pad: int,
                    batch_size: int) -> list[list[float]]:
    """Raw log-probs of each sequence's tokens from its start index on, in order.

    Sequences with a shared prefix (``shared_groups``) run it once and their suffixes on its
    key/value cache; the others run whole, longest first in right-padded batches with no
    attention mask (causal attention never lets a real token see the pads after it, and a
    padding mask would force attention onto its slow masked path: measured 2x slower on a
    CPU). Only the scored positions go through the LM head and the log-softmax: for a 135M
    model with a 49k vocabulary the head is a fifth of the FLOPs per token and its logits
    are 49k floats per position.
    """
    import torch

    from engine.student.modes import eval_mode

    out: list[list[float]] = [[] for _ in encoded]
    device = next(model.parameters()).device
    with eval_mode(model), torch.inference_mode():
        alone: list[int] = []
        for shared, members in shared_groups(encoded):
            if shared == 0:
                alone += members
                continue
            prefix = torch.tensor([encoded[members[0]][0][:shared]], device=device)
            cache = model.get_decoder()(input_ids=prefix, use_cache=True).cache
            kv = [(layer.keys, layer.values) for layer in cache.layers]
            for lo in range(0, len(members), batch_size):
                chunk = members[lo:lo + batch_size]
                _run(model, encoded, chunk, out, pad=pad, shared=shared, kv=kv)
        alone.sort(key=lambda i: -len(encoded[i][0]))
        for lo in range(0, len(alone), batch_size):
            _run(model, encoded, alone[lo:lo + batch_size], out, pad=pad)
    return out


def _run(model: Any, encoded: Sequence[tuple[list[int], int]], chunk: list[int],
         out: list[list[float]], *, pad: int, shared: int = 0,
         kv: list[tuple[Any, Any]] | None = None) -> None:
    """One forward pass over ``chunk``'s tokens after ``shared`` (whose keys and values are
    ``kv``, batch 1, expanded to the chunk without a copy); fills ``out`` for the chunk."""
    import torch
    from transformers import DynamicCache

    device = next(model.parameters()).device
    width = max(len(encoded[i][0]) for i in chunk) - shared
    ids = torch.full((len(chunk), width), pad, dtype=torch.long)
    for row, i in enumerate(chunk):
        seq = encoded[i][0][shared:]
        ids[row, :len(seq)] = torch.tensor(seq)
    kwargs: dict[str, Any] = {"use_cache": False}
    if kv is not None:
        n = len(chunk)
        # The cache appends the suffix's keys with torch.cat, so the expanded views of
        # the prefix's tensors are read, never written.
        kwargs = {"cache": DynamicCache(ddp_cache_data=[
            (k.expand(n, -1, -1, -1), v.expand(n, -1, -1, -1)) for k, v in kv]),
            "use_cache": True}
    hidden = model.get_decoder()(input_ids=ids.to(device), **kwargs).last_hidden_state
    rows, cols, targets = [], [], []
    for row, i in enumerate(chunk):
        seq, start = encoded[i]
        span = range(start - 1 - shared, len(seq) - 1 - shared)
        rows += [row] * len(span)
        cols += list(span)
        targets += seq[start:]
    if not targets:
        return
    picked = hidden[rows, cols]
    target = torch.tensor(targets, device=picked.device)
    head = model.get_output_embeddings()
    cap = getattr(model.config, "final_logit_softcapping", None)  # Gemma 2/3
    lp: list[float] = []
    # HEAD_ROWS positions at a time: 512 x 49k float logits are 100 MB.
    for lo in range(0, len(targets), HEAD_ROWS):
        logits = head(picked[lo:lo + HEAD_ROWS]).float()
        if cap:
            logits = torch.tanh(logits / cap) * cap
        got = logits.log_softmax(-1).gather(-1, target[lo:lo + HEAD_ROWS, None])[:, 0]
        lp += got.tolist()
    at = 0
    for i in chunk:
        seq, start = encoded[i]
        out[i] = lp[at:at + len(seq) - start]
        at += len(seq) - start


_ANSWER_TAGS = re.compile(r"</?answer>", re.IGNORECASE)


def answer_part(output: str) -> str:
    """The answer in a student's output: after ``</think>`` (nothing if the thinking never
    closed), without ``<answer>`` tags; an output with no ``<think>`` is all answer."""
    if "</think>" in output:
        output = output.rsplit("</think>", 1)[1]
    elif "<think>" in output:
        return ""
    return _ANSWER_TAGS.sub("", output).strip()
