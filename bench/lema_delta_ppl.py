"""LEMA's ΔPPL scoring on the embedded student: batched vs one chain at a time.

Builds N (wrong chain, corrected chain) pairs the way the analyse stage does: lab problems,
the lab's own mistake styles for the wrong step, the scripted teacher's correction triplet,
``rows.corrected_chain`` for the corrected side; scores both sides after the lema student
prompt with ``engine.student.score`` at batch 1 and at ``--batch``; checks that both give
the same perplexities (to 1e-3 relative) and reports the wall time and the mean ΔPPL.

    OMP_NUM_THREADS=1 python bench/lema_delta_ppl.py [--n 32] [--batch 8]

Last line: ``lema_delta_ppl_speedup: <batch-1 seconds / batched seconds>``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def pairs(n: int) -> tuple[list[str], list[str], list[str]]:
    from engine.lab import corrections
    from engine.lab.arith import Dials, chain_text, make_item
    from engine.lab.mistakes import mistaken_steps
    from engine.paradigms.lema.formats import parse_triplet
    from engine.paradigms.lema.rows import as_chain, corrected_chain

    rng = random.Random(0)
    questions, wrong, right = [], [], []
    while len(questions) < n:
        item = make_item(rng, Dials(digits=2, ops=3, mix="+-x", distractors=1))
        k = rng.randrange(1, len(item.steps) + 1)
        slipped = mistaken_steps(item, k, "mixed", rng)
        if slipped is None:
            continue
        path = chain_text(slipped, slipped[-1].result)
        triplet = parse_triplet(corrections.lema_triplet(k, "why", list(item.steps[k - 1:]),
                                                         item.steps[-1].result))
        questions.append(item.question)
        wrong.append(as_chain(path).text())
        right.append(corrected_chain(triplet, as_chain(path)))
    return questions, wrong, right


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    from engine.embedded import embedded_model
    from engine.prompts import render
    from engine.recipes import StudentSpec
    from engine.student.load import load_student
    from engine.student.score import score

    questions, wrong, right = pairs(args.n)
    model, tok = load_student(StudentSpec(model=str(embedded_model().hf_dir),
                                          quantization="none"), for_training=False)
    prompts = [[{"role": "user", "content": render("prompts/lema/student.j2", ROOT / "recipes",
                                                   question=q)}] for q in questions]
    timing = {}
    ppl = {}
    for b in (1, args.batch):
        t0 = time.perf_counter()
        got = score(model, tok, prompts + prompts, wrong + right, batch_size=b)
        timing[b] = time.perf_counter() - t0
        ppl[b] = [s.ppl for s in got]
    same = all(abs(a - c) <= 1e-3 * max(abs(a), 1.0) for a, c in zip(ppl[1], ppl[args.batch],
                                                                      strict=True))
    deltas = [w - r for w, r in zip(ppl[args.batch][:args.n], ppl[args.batch][args.n:],
                                    strict=True)]
    print(f"| chains | batch 1 s | batch {args.batch} s | same ppl | mean ΔPPL (base) |")
    print("|---|---|---|---|---|")
    print(f"| {2 * args.n} | {timing[1]:.2f} | {timing[args.batch]:.2f} | {same} | "
          f"{sum(deltas) / len(deltas):.3f} |")
    print(f"lema_delta_ppl_speedup: {timing[1] / timing[args.batch]:.2f}")


if __name__ == "__main__":
    main()
