"""Per-token log-probabilities of a target given a prefix, batched; mean log-prob and perplexity.

The target is scored inside the tokenisation of prefix + target, as the model would see
the concatenated text, not as two separately tokenised pieces: when BPE merges the end of
the prefix with the start of the target into one token, that token is the first target
token (it is the first one whose text reaches past the prefix). Chat prompts are rendered
with the model's template and generation prompt first, exactly as training and sampling do.

REER scores the reference answer y given x and a thinking draft with per-token clipping
to [-2, 0]: the prefix is the chat-rendered task, a ``continuation`` (the assistant's text
so far: "<think>z</think><answer>" and y's first segment) is appended to it as context,
and only the rest of y is the target. LEMA compares the perplexity of wrong and right
paths. Knows nothing of the store or of training.
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
    n_input: int = 0  # tokens in the forward pass (context + target): the scoring cost


def target_tokens(tokenizer: Any, prefix: Prompt, target: str,
                  continuation: str = "") -> tuple[list[int], int]:
    """Token ids of prefix + continuation + target and the index of the first target token
    (the continuation is context, as the rendered prefix is)."""
    text = render_prompt(tokenizer, prefix) + continuation
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


def _finish(logprobs: list[float], ids: list[int], clip: tuple[float, float] | None,
            n_input: int = 0) -> TargetScore:
    n = len(logprobs)
    if n == 0:
        return TargetScore([], [], math.nan, math.nan, 0, n_input)
    used = [min(max(v, clip[0]), clip[1]) for v in logprobs] if clip else logprobs
    mean = sum(used) / n
    return TargetScore(logprobs, ids, mean, math.exp(-mean), n, n_input)


def score(model: Any, tokenizer: Any, prefixes: Sequence[Prompt], targets: Sequence[str], *,
          clip: tuple[float, float] | None = None, batch_size: int = 8,
          continuations: Sequence[str] | None = None) -> list[TargetScore]:
    """Score each target after its prefix (and its continuation, when given); returns one
    ``TargetScore`` per pair, in order."""
    import torch

    if len(prefixes) != len(targets):
        raise ValueError(f"{len(prefixes)} prefixes but {len(targets)} targets")
    conts = list(continuations) if continuations is not None else [""] * len(targets)
    if len(conts) != len(targets):
        raise ValueError(f"{len(conts)} continuations but {len(targets)} targets")
    encoded = [target_tokens(tokenizer, p, t, c)
               for p, t, c in zip(prefixes, targets, conts, strict=True)]
    # Longest first, so batches hold similar lengths and padding stays small.
    order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i][0]))
    results: list[TargetScore | None] = [None] * len(encoded)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    # Right padding and no attention mask: causal attention never lets a real token see the
    # pads after it, and positions 0..len-1 are the default, so every row scores as it would
    # alone. A padding mask would force the attention onto its slow masked path (measured:
    # batching then ran 2x slower than one sequence at a time on a CPU).
    decoder = model.get_decoder()
    head = model.get_output_embeddings()
    cap = getattr(model.config, "final_logit_softcapping", None)  # Gemma 2/3
    try:
        for lo in range(0, len(order), batch_size):
            chunk = order[lo:lo + batch_size]
            width = max(len(encoded[i][0]) for i in chunk)
            ids = torch.full((len(chunk), width), pad, dtype=torch.long)
            for row, i in enumerate(chunk):
                seq = encoded[i][0]
                ids[row, :len(seq)] = torch.tensor(seq)
            with torch.inference_mode():
                hidden = decoder(input_ids=ids.to(device), use_cache=False).last_hidden_state
                for row, i in enumerate(chunk):
                    seq, start = encoded[i]
                    if len(seq) - start <= 0:
                        results[i] = _finish([], [], clip, len(seq))
                        continue
                    # Only the target's positions go through the LM head, row by row: the
                    # logits are positions x vocabulary floats.
                    logits = head(hidden[row, start - 1:len(seq) - 1]).float()
                    if cap:
                        logits = torch.tanh(logits / cap) * cap
                    target = torch.tensor(seq[start:], device=logits.device)
                    lp = logits.log_softmax(-1).gather(-1, target[:, None])[:, 0].tolist()
                    results[i] = _finish(lp, seq[start:], clip, len(seq))
    finally:
        model.train(was_training)
    return [r for r in results if r is not None]


def perplexity(scores: Sequence[TargetScore]) -> float:
    """Token-weighted perplexity over several targets (exp of minus the mean log-prob)."""
    n = sum(s.n_tokens for s in scores)
    if n == 0:
        return math.nan
    return math.exp(-sum(s.mean_logprob * s.n_tokens for s in scores) / n)
