"""REER's scorer: the same 64 candidate thinkings scored the naive way and by the scorer.

The candidates are what REER's search scores: for 32 items of the lab's `why` family, the
scripted teacher's draft z0 and one edit of a vague segment (engine/lab/why.py), each
scored as the mean clipped negative log-prob of the reference answer after its first
segment, on the embedded SmolLM2-135M by default. Three ways, same scores (checked to 1e-4):

- naive: one candidate per forward pass, the model's full logits at every position and a
  log-softmax over the vocabulary, as a straightforward implementation does;
- the scorer (engine/paradigms/reer/scoring.py) at batch 1: LM head only on the scored
  positions, and an item's two candidates run their shared token prefix once;
- the scorer batched (``--batch``, 16 by default);
- the naive way again on the bfloat16 copy below, so the scorer's own gain at equal dtype
  is printed apart from what bf16 gives;
- the scorer batched on a bfloat16 copy of the model (eager attention on a CPU): what the
  search runs by default (``search.score_dtype: auto``) on hardware that multiplies bf16
  natively (a CPU with AVX512-BF16 or AMX; on a GPU the student computes in bf16 anyway).
  Its scores are not the same to 1e-4: the bench prints how far they are from the float32
  ones and how often an item's draft and edit keep their order (the search's decision).

The batch-1 line shows how much comes from less compute and how much from batching. Wall
and CPU seconds are printed with the load average (the machine may be shared). The bench
also counts the floating-point operations each way does (matrix products and attention,
from the model's shapes and the token counts): their ratio is the most any scorer that
gives the same scores can gain on these candidates without faster hardware or numerics,
since every candidate's tokens after what it shares with another must run through every
layer. Last line: ``reer_score_speedup: <naive wall / the scorer's wall as the search runs it by
default here>`` (bf16 where native, else float32); the float32 ratio is printed above it.

    OMP_NUM_THREADS=2 python bench/reer_score.py      # SmolLM2-135M, batch 16
    python bench/reer_score.py --model PATH --batch 32 --n 16
"""

from __future__ import annotations

import argparse
import copy
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def candidates(n_items: int) -> list[tuple[list[dict[str, str]], str, str]]:
    """(student prompt, thinking, reference answer) x 2 per item: the draft and one edit."""
    from engine.lab import arith, why
    from engine.paradigms.reer import formats

    out = []
    for item in arith.generate(n_items, arith.Dials(digits=2, ops=3), seed=5):
        parsed = arith.parse_question(item.question)
        assert parsed is not None
        y = why.reference(item)
        z0 = formats.parse_think(why.draft(parsed, item.answer, random.Random(item.id))).text
        segments = formats.split_segments(z0)
        k = next((i for i, s in enumerate(segments) if "without going into it" in s), 1)
        edited = list(segments)
        edited[k] = why.refine(parsed, segments[k], variant=0)
        prompt = [{"role": "user", "content": why.query(item)}]
        out += [(prompt, formats.join_segments(segments), y),
                (prompt, formats.join_segments(edited), y)]
    return out


def naive_scores(model, tokenizer, cands, layout: str, clip: float = 2.0) -> list[float]:
    """What a straightforward scorer does: one candidate per forward pass, the model's full
    logits at every position, log-softmax over the vocabulary, then the target's tokens."""
    import torch

    from engine.paradigms.reer.formats import split_answer
    from engine.paradigms.reer.scoring import before_answer
    from engine.student.score import target_tokens

    out = []
    with torch.no_grad():
        for prompt, z, y in cands:
            head, rest = split_answer(y)
            ids, start = target_tokens(tokenizer, prompt, rest, before_answer(layout, z) + head)
            logits = model(input_ids=torch.tensor([ids])).logits[0].float()
            lp = logits[:-1].log_softmax(-1).gather(-1, torch.tensor(ids[1:])[:, None])[:, 0]
            out.append(float(-lp[start - 1:].clamp(-clip, 0.0).mean()))
    return out


def forward_flops(model, new: int, past: int = 0, head_rows: int | None = None) -> float:
    """Multiply-adds x 2 of a forward pass over ``new`` tokens after ``past`` cached ones:
    every linear layer of the body, attention's two products over the visible positions,
    and the LM head on ``head_rows`` positions (all ``new`` when None)."""
    import torch

    body = sum(m.weight.numel() for m in model.get_decoder().modules()
               if isinstance(m, torch.nn.Linear))
    cfg = model.config
    heads = cfg.num_attention_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
    layers = cfg.num_hidden_layers
    # position t (1-based) attends to t earlier positions: QK^T and AV, 2 flops each.
    visible = sum(past + t for t in range(1, new + 1))
    attn = layers * 2 * 2 * heads * head_dim * visible
    head = model.get_output_embeddings().weight.numel()
    rows = new if head_rows is None else head_rows
    return 2.0 * body * new + attn + 2.0 * head * rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="embedded", help="student model (default: embedded)")
    parser.add_argument("--batch", type=int, default=16, help="candidates per forward pass")
    parser.add_argument("--n", type=int, default=64, help="candidates (even)")
    args = parser.parse_args()

    import torch

    from engine.paradigms.reer.params import DEFAULT_LAYOUT
    from engine.paradigms.reer.scoring import (
        resolve_dtype,
        score_thinkings,
        shared_groups,
        to_scoring_dtype,
    )
    from engine.recipes import StudentSpec
    from engine.student import load_student
    from engine.student.score import target_tokens

    model, tokenizer = load_student(StudentSpec(model=args.model, quantization="none"),
                                    for_training=False)
    cands = candidates(args.n // 2)
    prompts, zs, ys = (list(x) for x in zip(*cands, strict=True))
    print(f"model {args.model} ({model.config._attn_implementation} attention); {len(cands)} "
          f"candidates; torch threads {torch.get_num_threads()} (OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS')}); load average {os.getloadavg()[0]:.2f} "
          "(a shared machine: other jobs run too)")

    cpu: dict[str, float] = {}

    half = to_scoring_dtype(copy.deepcopy(model), "bfloat16")

    def run(batch: int, n: int | None = None, dtype: str | None = None,
            ) -> tuple[float, list[float], int]:
        t0, c0 = time.perf_counter(), time.process_time()
        scored = score_thinkings(half if dtype else model, tokenizer, prompts[:n], zs[:n],
                                 ys[:n], layout=DEFAULT_LAYOUT, batch_size=batch)
        cpu[f"batch {batch}" + (f" {dtype}" if dtype else "")] = time.process_time() - c0
        return (time.perf_counter() - t0, [s.score for s in scored],
                sum(s.input_tokens for s in scored))

    run(2, 2)  # warm-up: first-call allocations
    run(2, 2, "bfloat16")
    naive_scores(model, tokenizer, cands[:1], DEFAULT_LAYOUT)
    t0, c0 = time.perf_counter(), time.process_time()
    naive = naive_scores(model, tokenizer, cands, DEFAULT_LAYOUT)
    naive_s, cpu["naive"] = time.perf_counter() - t0, time.process_time() - c0
    # the naive way on the same bfloat16 copy: how much of the gain is the scorer's, not bf16's
    naive_scores(half, tokenizer, cands[:1], DEFAULT_LAYOUT)
    t0, c0 = time.perf_counter(), time.process_time()
    naive_half = naive_scores(half, tokenizer, cands, DEFAULT_LAYOUT)
    naive_half_s, cpu["naive bfloat16"] = time.perf_counter() - t0, time.process_time() - c0
    single_s, single, tokens = run(1)
    batched_s, batched, _ = run(args.batch)
    bf16_s, bf16, _ = run(args.batch, dtype="bfloat16")
    native = resolve_dtype("auto", model) == "bfloat16"
    from engine.paradigms.reer.formats import split_answer
    from engine.paradigms.reer.scoring import before_answer

    encoded = [target_tokens(tokenizer, p, split_answer(y)[1],
                             before_answer(DEFAULT_LAYOUT, z) + split_answer(y)[0])
               for p, z, y in cands]
    groups = shared_groups(encoded)
    computed = tokens - sum(shared * (len(members) - 1) for shared, members in groups)
    scored_tokens = sum(len(ids) - start for ids, start in encoded)
    flops_naive = sum(forward_flops(model, len(ids)) for ids, _ in encoded)
    flops_new = 0.0
    for shared, members in groups:
        flops_new += forward_flops(model, shared, head_rows=0) if shared else 0.0
        flops_new += sum(forward_flops(model, len(encoded[i][0]) - shared, shared,
                                       head_rows=len(encoded[i][0]) - encoded[i][1])
                         for i in members)
    diff = max(abs(a - b) for a, b in zip(naive, batched, strict=True))
    diff1 = max(abs(a - b) for a, b in zip(naive, single, strict=True))
    print(f"tokens in the candidates: {tokens} ({tokens / len(cands):.0f} per candidate); "
          f"scored: {scored_tokens}; run by the new scorer (shared prefixes once): {computed}")
    print(f"naive, one forward pass each, full logits: {naive_s:.2f} s "
          f"({tokens / naive_s:.0f} tokens/s)")
    print(f"new scorer, batch 1: {single_s:.2f} s ({naive_s / single_s:.2f}x the naive)")
    print(f"new scorer, batch {args.batch}: {batched_s:.2f} s ({single_s / batched_s:.2f}x "
          "the new at batch 1)")
    print(f"largest score difference from the naive: batched {diff:.2e}, batch 1 {diff1:.2e}")
    gaps = [abs(a - b) for a, b in zip(naive, bf16, strict=True)]
    kept = sum((naive[i] < naive[i + 1]) == (bf16[i] < bf16[i + 1])
               for i in range(0, len(cands), 2))
    print(f"new scorer, batch {args.batch}, bfloat16 copy: {bf16_s:.2f} s "
          f"({naive_s / bf16_s:.2f}x the naive; bf16 {'native' if native else 'emulated'} "
          f"here); scores from the float32 ones: largest {max(gaps):.4f}, mean "
          f"{sum(gaps) / len(gaps):.4f}; draft-vs-edit order kept on {kept} of "
          f"{len(cands) // 2} items")
    half_gap = max(abs(a - b) for a, b in zip(naive_half, bf16, strict=True))
    print(f"naive on the same bfloat16 copy: {naive_half_s:.2f} s; the bf16 scorer is "
          f"{naive_half_s / bf16_s:.2f}x it (the scorer's own gain at equal dtype; scores "
          f"within {half_gap:.1e} of it)")
    print("CPU seconds (all threads; less affected by other jobs than wall time): naive "
          f"{cpu['naive']:.1f}, new batch 1 {cpu['batch 1']:.1f}, new batch {args.batch} "
          f"{cpu[f'batch {args.batch}']:.1f}; naive / new batched "
          f"{cpu['naive'] / cpu[f'batch {args.batch}']:.2f}; new batch {args.batch} bfloat16 "
          f"{cpu[f'batch {args.batch} bfloat16']:.1f} (naive / it "
          f"{cpu['naive'] / cpu[f'batch {args.batch} bfloat16']:.2f})")
    print(f"compute: naive {flops_naive / 1e12:.2f} TFLOP, the scorer {flops_new / 1e12:.2f} "
          f"TFLOP: at most {flops_naive / flops_new:.2f}x less work for the same scores "
          "(the bound on a CPU that runs both at the same FLOP/s)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    assert max(diff, diff1) < 1e-4, "the new scorer's scores differ from the naive ones"
    assert max(gaps) < 0.05, "bfloat16 scores are far from the float32 ones"
    print(f"reer_score_speedup_bf16_vs_naive_bf16: {naive_half_s / bf16_s:.2f}")
    print(f"reer_score_speedup_float32: {naive_s / batched_s:.2f}")
    print(f"reer_score_speedup: {naive_s / (bf16_s if native else batched_s):.2f}")


if __name__ == "__main__":
    main()
