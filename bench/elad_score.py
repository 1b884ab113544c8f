"""ELAD's score stage: the same cut-chain passes for 50 items, batched vs one generation
per pass, in one run.

The chains are what score sees: for 50 lab arith problems (2-3 steps), the student's
chain is the gold chain or one with a slip (engine/lab/mistakes.py), cut before each step
and continued greedily by the student (engine/paradigms/elad/passes.py). Batched: each of
the n+1 distinct prefixes once, ``--batch`` continuations per ``generate`` (left padding);
one per pass: 2n single generations (without step i, with step i), as the formula reads.
The answers both ways are compared (greedy; padding may flip a near-tie, so the agreement
is printed, not asserted). Prints times, generations and tokens; last line
``elad_score_speedup: <one-per-pass seconds / batched seconds>``.

    OMP_NUM_THREADS=1 python bench/elad_score.py                # embedded SmolLM2-135M
    python bench/elad_score.py --model PATH --items 50 --batch 16 --threads 2
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def chains(n_items: int) -> tuple[list[dict[str, str]], list[list[str]], list[dict]]:
    """(student prompt, chain steps, item fields) for n lab problems."""
    from engine.lab import arith
    from engine.lab.mistakes import mistaken_steps
    from engine.prompts import render
    from engine.steps import chain_steps

    prompts, steps, data = [], [], []
    for i, item in enumerate(arith.generate(n_items, arith.Dials(digits=1, ops=3, mix="+-x"),
                                            seed=11)):
        chain = list(item.steps)
        rng = random.Random(i)
        if i % 2:
            chain = mistaken_steps(item, rng.randint(1, len(chain)), "carry", rng) or chain
        steps.append(chain_steps(arith.chain_text(chain)).texts)
        prompts.append({"role": "user", "content": render(
            "prompts/cot/student.j2", ROOT / "recipes", question=item.question)})
        data.append({"question": item.question, "answer": str(item.answer)})
    return prompts, steps, data


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--items", type=int, default=50)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=40)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: as set)")
    args = ap.parse_args()

    import torch

    from engine.paradigms.elad.passes import continue_cuts
    from engine.recipes import StudentSpec
    from engine.student import load_student
    from engine.student.chat import render_prompt
    from engine.tasks import get_task

    if args.threads:
        torch.set_num_threads(args.threads)
    model, tok = load_student(StudentSpec(model=args.model, quantization="none"),
                              for_training=False)
    prompts, steps, data = chains(args.items)
    heads = [render_prompt(tok, [p]) for p in prompts]
    checker = get_task("gsm8k")

    def answer_of(c: int, text: str) -> str | None:
        return checker.verify(text, data[c]).predicted

    results = {}
    for batched in (True, False):
        t0 = time.perf_counter()
        got = continue_cuts(model, tok, heads, steps, answer_of, batched=batched,
                            max_new_tokens=args.max_new_tokens, batch_size=args.batch)
        seconds = time.perf_counter() - t0
        results[batched] = (seconds, got)
        name = f"batched (batch {args.batch}, each prefix once)" if batched else "one per pass"
        print(f"{name}: {seconds:.1f} s, {sum(c.generations for c in got)} generations, "
              f"{sum(c.read_tokens for c in got)} tokens read, "
              f"{sum(c.gen_tokens for c in got)} written")
    fast, slow = results[True][1], results[False][1]
    pairs = [(a, b) for x, y in zip(fast, slow, strict=True)
             for a, b in zip(x.without + x.with_, y.without + y.with_, strict=True)]
    same = sum(a == b for a, b in pairs)
    print(f"items {args.items}, steps {sum(map(len, steps))}, torch threads "
          f"{torch.get_num_threads()}; answers equal both ways: {same}/{len(pairs)}")
    print(f"elad_score_speedup: {results[False][0] / results[True][0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
