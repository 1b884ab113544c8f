"""Scoring against a naive one-token-at-a-time reference, batched sampling, the memory estimate."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from engine.recipes import StudentSpec

from .tiny_model import ensure_tiny_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def loaded(models_home: Path):
    from engine.student.load import load_student

    tiny = ensure_tiny_model(models_home)
    return load_student(StudentSpec(model=str(tiny), quantization="none"), for_training=False)


PAIRS = [
    ([{"role": "user", "content": "What is 3 plus 4?"}], "We add 3 and 4, so the answer is 7."),
    ("the answ", "er is 12"),  # "answ" + "er" merge into one token across the boundary
    ("What is 5 times 2? ", "10"),
    ("yes", " no because"),
    ([{"role": "user", "content": "Think step by step."}], "<think>first</think> then 9"),
]


def _naive(model, ids: list[int], start: int) -> list[float]:
    """log p(ids[p] | ids[:p]) by a separate, unpadded forward pass per target token."""
    import torch

    out = []
    for p in range(start, len(ids)):
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids[:p]])).logits[0, -1]
        out.append(float(logits.float().log_softmax(-1)[ids[p]]))
    return out


def test_scores_match_a_naive_reference_including_the_bpe_join(loaded):
    from engine.student.score import score, target_tokens

    model, tok = loaded
    ids, start = target_tokens(tok, "the answ", "er is 12")
    enc = tok("the answer is 12", return_offsets_mapping=True)
    assert enc["offset_mapping"][start][0] < len("the answ") < enc["offset_mapping"][start][1]
    assert tok.decode(ids[start:]) == " answer is 12"  # the joined token is scored

    prefixes, targets = [p for p, _ in PAIRS], [t for _, t in PAIRS]
    scores = score(model, tok, prefixes, targets, batch_size=2)  # mixed lengths: padding
    for (prefix, target), got in zip(PAIRS, scores, strict=True):
        ids, start = target_tokens(tok, prefix, target)
        want = _naive(model, ids, start)
        assert got.n_tokens == len(want) == len(ids) - start and got.token_ids == ids[start:]
        assert got.token_logprobs == pytest.approx(want, abs=1e-4)
        assert got.mean_logprob == pytest.approx(sum(want) / len(want), abs=1e-4)
        assert got.ppl == pytest.approx(math.exp(-got.mean_logprob))


def test_clipping_bounds_each_token_before_averaging(loaded):
    from engine.student.score import perplexity, score

    model, tok = loaded
    raw, clipped = (score(model, tok, ["What is 2 plus 2? "], ["The answer is 4."], clip=c)[0]
                    for c in (None, (-2.0, 0.0)))
    assert raw.token_logprobs == clipped.token_logprobs
    assert min(raw.token_logprobs) < -2  # a random model: clipping has something to do
    expect = sum(max(v, -2.0) for v in raw.token_logprobs) / raw.n_tokens
    assert clipped.mean_logprob == pytest.approx(expect) and clipped.ppl <= math.exp(2) + 1e-9
    assert perplexity([raw]) == pytest.approx(raw.ppl)


def test_batched_left_padded_greedy_equals_one_at_a_time(loaded):
    from engine.student.sample import sample

    model, tok = loaded
    prompts = ["What is 3 plus 4?", [{"role": "user", "content": "What is 1 plus 1?"}],
               "the total is", [{"role": "user", "content": "How many apples has the user left?"}]]
    progress: list = []
    batched = sample(model, tok, prompts, k=1, temperature=0, max_new_tokens=12, batch_size=4,
                     on_progress=lambda d, t, r: progress.append((d, t, r)))
    single = [sample(model, tok, [p], k=1, temperature=0, max_new_tokens=12)[0] for p in prompts]
    assert [b[0].text for b in batched] == [s[0].text for s in single]
    assert progress[-1][:2] == (4, 4) and progress[-1][2] > 0
    for row in batched:
        s = row[0]
        assert (s.finish_reason, s.tokens) == ("length", 12) or s.finish_reason == "stop"


def test_k_samples_seeds_and_stop_strings(loaded):
    from engine.student.sample import sample

    model, tok = loaded
    prompts = ["What is 3 plus 4?", "the answer"]
    a = sample(model, tok, prompts, k=3, temperature=1.0, max_new_tokens=10, seed=1)
    b = sample(model, tok, prompts, k=3, temperature=1.0, max_new_tokens=10, seed=1)
    c = sample(model, tok, prompts, k=3, temperature=1.0, max_new_tokens=10, seed=2)
    assert [len(r) for r in a] == [3, 3]
    assert a == b and a != c
    assert len({s.text for s in a[0]}) > 1  # k samples, not k copies

    greedy = sample(model, tok, ["What is 3 plus 4?"], temperature=0, max_new_tokens=16)[0][0]
    stop = greedy.text[4:7]  # some text the greedy answer contains after its start
    assert stop and greedy.text.find(stop) >= 1
    cut = sample(model, tok, ["What is 3 plus 4?"], temperature=0, max_new_tokens=16,
                 stop=[stop])[0][0]
    assert cut.text == greedy.text[:greedy.text.find(stop)] and cut.finish_reason == "stop"
    assert cut.tokens < 16


def test_memory_estimate_counts_the_real_model_and_warns(loaded):
    from engine.student.memory import (
        GIB,
        ModelShape,
        estimate_memory,
        memory_warning,
        shape_from_config,
    )

    model, _tok = loaded
    shape = shape_from_config(model.config)
    assert shape.n_params == sum(p.numel() for p in model.parameters())

    # Qwen2.5-1.5B's shape (hidden 1536, 28 layers, 12 heads / 2 KV heads, tied embeddings).
    qwen = ModelShape(n_params=1_543_714_304, hidden=1536, layers=28, vocab=151936,
                      intermediate=8960, kv_dim=256, tied_embeddings=True)
    est = {q: estimate_memory(qwen, quantization=q, lora_r=16, seq_len=1024, batch=4)
           for q in ("nf4", "int8", "none")}
    assert est["nf4"].total_bytes < est["int8"].total_bytes < est["none"].total_bytes
    assert 1.5 * GIB < est["nf4"].total_bytes < 6 * GIB  # QLoRA of a 1.5B model fits 8 GB
    assert est["none"].breakdown["weights"] == pytest.approx(2 * qwen.n_params, rel=0.01)
    bigger = estimate_memory(qwen, quantization="nf4", lora_r=16, seq_len=4096, batch=8)
    no_ckpt = estimate_memory(qwen, quantization="nf4", lora_r=16, seq_len=1024, batch=4,
                              gradient_checkpointing=False)
    assert bigger.breakdown["activations"] > est["nf4"].breakdown["activations"]
    assert no_ckpt.total_bytes > est["nf4"].total_bytes
    assert memory_warning(est["nf4"], 40 * GIB, batch=4) is None
    assert memory_warning(est["nf4"], None, batch=4) is None  # no GPU: nothing to compare
    warning = memory_warning(bigger, 4 * GIB, batch=8)
    assert warning and "exceeds the 4.00 GiB free" in warning and "activations" in warning
    assert "batch_size (8" in warning
