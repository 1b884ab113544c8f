"""REER's scorer: the same 64 candidate thinkings scored batched vs one forward pass each.

The candidates are what REER's search scores: for 32 items of the lab's `why` family, the
scripted teacher's draft z0 and one edit of a vague segment (engine/lab/why.py), each
scored as the mean clipped negative log-prob of the reference answer after its first
segment (engine/paradigms/reer/scoring.py), on the embedded SmolLM2-135M by default.
Both ways give the same scores (checked); the script prints their times and, last,
``reer_score_speedup: <batched speedup>``. Run with OMP_NUM_THREADS=1 on a shared machine.

    python bench/reer_score.py                     # SmolLM2-135M, batch 16
    python bench/reer_score.py --model PATH --batch 32 --n 16
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="embedded", help="student model (default: embedded)")
    parser.add_argument("--batch", type=int, default=16, help="candidates per forward pass")
    parser.add_argument("--n", type=int, default=64, help="candidates (even)")
    args = parser.parse_args()

    import torch

    from engine.paradigms.reer.params import DEFAULT_LAYOUT
    from engine.paradigms.reer.scoring import score_thinkings
    from engine.recipes import StudentSpec
    from engine.student import load_student

    model, tokenizer = load_student(StudentSpec(model=args.model, quantization="none"),
                                    for_training=False)
    cands = candidates(args.n // 2)
    prompts, zs, ys = (list(x) for x in zip(*cands, strict=True))
    print(f"model {args.model}; {len(cands)} candidates; torch threads "
          f"{torch.get_num_threads()} (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}); "
          f"load average {os.getloadavg()[0]:.2f}")

    def run(batch: int, n: int | None = None) -> tuple[float, list[float], int]:
        t0 = time.perf_counter()
        scored = score_thinkings(model, tokenizer, prompts[:n], zs[:n], ys[:n],
                                 layout=DEFAULT_LAYOUT, batch_size=batch)
        return (time.perf_counter() - t0, [s.score for s in scored],
                sum(s.input_tokens for s in scored))

    run(2, 2)  # warm-up: first-call allocations
    single_s, single, tokens = run(1)
    batched_s, batched, _ = run(args.batch)
    diff = max(abs(a - b) for a, b in zip(single, batched, strict=True))
    print(f"tokens in the forward passes: {tokens} ({tokens / len(cands):.0f} per candidate)")
    print(f"one forward pass each: {single_s:.2f} s ({tokens / single_s:.0f} tokens/s)")
    print(f"batched ({args.batch} per pass): {batched_s:.2f} s ({tokens / batched_s:.0f} tokens/s)")
    print(f"largest score difference between the two: {diff:.2e}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    assert diff < 1e-3, "batched and single scores differ"
    print(f"reer_score_speedup: {single_s / batched_s:.2f}")


if __name__ == "__main__":
    main()
