"""Per-token log-probabilities of a target given a prefix, batched; mean log-prob and perplexity.

The target is scored inside the tokenisation of prefix + target, as the model would see
the concatenated text, not as two separately tokenised pieces: when BPE merges the end of
the prefix with the start of the target into one token, that token is the first target
token (it is the first one whose text reaches past the prefix). Chat prompts are rendered
with the model's template and generation prompt first, exactly as training and sampling do.

REER scores the reference answer y given x and a thinking draft (prefix = rendered x +
"<think>z</think>") with per-token clipping to [-2, 0]; LEMA compares the perplexity of
wrong and right paths. Knows nothing of the store or of training.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from engine.student.chat import Prompt, render_prompt


@dataclass(frozen=True)
class TargetScore:
    """token_logprobs are raw; mean_logprob and ppl use the clipped values when clipping."""

    token_logprobs: list[float]
    token_ids: list[int]
    mean_logprob: float
    ppl: float
    n_tokens: int


def target_tokens(tokenizer: Any, prefix: Prompt, target: str) -> tuple[list[int], int]:
    """Token ids of prefix + target and the index of the first target token."""
    text = render_prompt(tokenizer, prefix)
    # Plain-text prompts get the tokenizer's special tokens (BOS) as in training; a rendered
    # chat template already contains its own.
    enc = tokenizer(text + target, add_special_tokens=isinstance(prefix, str),
                    return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    boundary = len(text)
    start = len(ids)
    for i, (_lo, hi) in enumerate(enc["offset_mapping"]):
        if hi > boundary:
            start = i
            break
    # The very first token has no context to be predicted from.
    return ids, max(start, 1)


def _finish(logprobs: list[float], ids: list[int], clip: tuple[float, float] | None) -> TargetScore:
    n = len(logprobs)
    if n == 0:
        return TargetScore([], [], math.nan, math.nan, 0)
    used = [min(max(v, clip[0]), clip[1]) for v in logprobs] if clip else logprobs
    mean = sum(used) / n
    return TargetScore(logprobs, ids, mean, math.exp(-mean), n)


def score(model: Any, tokenizer: Any, prefixes: Sequence[Prompt], targets: Sequence[str], *,
          clip: tuple[float, float] | None = None, batch_size: int = 8) -> list[TargetScore]:
    """Score each target after its prefix; returns one ``TargetScore`` per pair, in order."""
    import torch

    if len(prefixes) != len(targets):
        raise ValueError(f"{len(prefixes)} prefixes but {len(targets)} targets")
    encoded = [target_tokens(tokenizer, p, t) for p, t in zip(prefixes, targets, strict=True)]
    # Longest first, so batches hold similar lengths and padding stays small.
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]))
    results: list[TargetScore | None] = [None] * len(encoded)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    try:
        for lo in range(0, len(order), batch_size):
            chunk = order[lo:lo + batch_size]
            width = max(len(encoded[i][0]) for i in chunk)
            # Left padding puts every target at the end, so the model need only project the
            # last `keep` positions through the LM head (logits are seq x vocab floats).
            keep = max(len(encoded[i][0]) - encoded[i][1] for i in chunk) + 1
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, i in enumerate(chunk):
                seq = encoded[i][0]
                ids[row, width - len(seq):] = torch.tensor(seq)
                mask[row, width - len(seq):] = 1
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            with torch.inference_mode():
                logits = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                               position_ids=positions.to(device), logits_to_keep=keep,
                               use_cache=False).logits
            for row, i in enumerate(chunk):
                seq, start = encoded[i]
                n = len(seq) - start
                if n <= 0:
                    results[i] = _finish([], [], clip)
                    continue
                # logits[:, j] predicts the token after position width-keep+j.
                rows = logits[row, keep - 1 - n:keep - 1].float().log_softmax(-1)
                target = torch.tensor(seq[start:], device=rows.device)
                lp = rows.gather(-1, target[:, None])[:, 0].tolist()
                results[i] = _finish(lp, seq[start:], clip)
    finally:
        model.train(was_training)
    return [r for r in results if r is not None]


def perplexity(scores: Sequence[TargetScore]) -> float:
    """Token-weighted perplexity over several targets (exp of minus the mean log-prob)."""
    n = sum(s.n_tokens for s in scores)
    if n == 0:
        return math.nan
    return math.exp(-sum(s.mean_logprob * s.n_tokens for s in scores) / n)
