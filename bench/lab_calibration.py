"""Calibrate the controlled lab on the embedded student: accuracy vs training rows seen.

For each difficulty setting of the `arith` family: generate problems (the same generator as
`dataset.lab`), hold out a test set, train SmolLM2-135M with LoRA on the gold step-by-step
solutions for one epoch (the same `train_sft` every paradigm uses, the `cot` student prompt),
keep a checkpoint every ``--every`` optimizer steps, and evaluate the untrained student and
each checkpoint greedily on the same test items (gsm8k verifier, Wilson 95% CI). One training
run per setting gives the whole curve: checkpoint k has seen k x batch rows.

    python bench/lab_calibration.py                                  # d1o2, 240 rows
    python bench/lab_calibration.py --settings d1o2,d2o2 --rows 320 --test 80 --out DIR

Prints a Markdown table (setting, rows seen, training seconds, accuracy with CI, lift over
the untrained student) and, last, ``lab_calibration_best_lift: <points>``. Run it alone: with
other CPU work on the machine, use OMP_NUM_THREADS=1 (2 threads are several times slower
when the cores are shared).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SETTINGS = {  # name -> lab dials (dN: digits per number, oN: operations, +- / +-x: the mix)
    "d1o2+-": {"digits": 1, "ops": 2, "mix": "+-"},
    "d1o2": {"digits": 1, "ops": 2, "mix": "+-x"},
    "d2o2": {"digits": 2, "ops": 2, "mix": "+-x"},
    "d2o3": {"digits": 2, "ops": 3, "mix": "+-x"},
}


def evaluate(adapter: Path | None, test: list[dict], prompts: list, ops: int) -> tuple[int, int]:
    from engine.recipes import StudentSpec
    from engine.student import load_student, sample
    from engine.tasks import get_task

    model, tok = load_student(StudentSpec(model="embedded", quantization="none"),
                              for_training=False, adapter=adapter)
    outs = sample(model, tok, prompts, k=1, temperature=0.0, max_new_tokens=20 + 14 * ops,
                  batch_size=40)
    checker = get_task("gsm8k")
    ok = sum(checker.verify(o[0].text, item).passed for o, item in zip(outs, test, strict=True))
    return ok, len(test)


def calibrate(name: str, rows: int, n_test: int, every: int, out: Path) -> list[dict]:
    from engine.lab import generate_records
    from engine.metrics import wilson
    from engine.prompts import render
    from engine.recipes import LoraSpec, StudentSpec, TrainingSpec
    from engine.student import train_sft

    dials = SETTINGS[name]
    records = generate_records("arith", n_test + rows, distractors=0, seed=0, **dials)
    test, train = records[:n_test], records[n_test:]

    def prompt(r: dict) -> list[dict[str, str]]:
        return [{"role": "user", "content": render("prompts/cot/student.j2", None,
                                                   question=r["question"])}]

    prompts = [prompt(r) for r in test]
    results = []
    ok, n = evaluate(None, test, prompts, dials["ops"])
    base = ok / n
    results.append({"setting": name, "rows": 0, "train_s": 0.0, "ok": ok, "n": n})
    student = StudentSpec(model="embedded", quantization="none", gradient_checkpointing=False,
                          max_length=192, lora=LoraSpec(r=16, alpha=32, dropout=0.05))
    training = TrainingSpec(epochs=1, learning_rate=5e-4, batch_size=8, grad_accum=1,
                            warmup_ratio=0.05, save_steps=every, save_total_limit=100,
                            logging_steps=5)
    run_dir = out / name
    t0 = time.monotonic()
    train_sft([{"prompt": prompt(r), "completion": r["solution"]} for r in train],
              student=student, training=training, out_dir=run_dir, seed=0)
    train_s = time.monotonic() - t0
    steps = sorted(int(p.name.split("-")[1]) for p in run_dir.glob("checkpoint-*"))
    for step in steps:
        ok, n = evaluate(run_dir / f"checkpoint-{step}", test, prompts, dials["ops"])
        results.append({"setting": name, "rows": step * training.batch_size,
                        "train_s": train_s * step / steps[-1], "ok": ok, "n": n})
    for r in results:
        lo, hi = wilson(r["ok"], r["n"])
        r.update(acc=r["ok"] / r["n"], lo=lo, hi=hi, lift=100 * (r["ok"] / r["n"] - base))
    (out / f"{name}.json").write_text(json.dumps(results, indent=1))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settings", default="d1o2", help=f"comma-separated: {', '.join(SETTINGS)}")
    parser.add_argument("--rows", type=int, default=240, help="training rows (one epoch)")
    parser.add_argument("--test", type=int, default=80)
    parser.add_argument("--every", type=int, default=10, help="checkpoint every N steps")
    parser.add_argument("--out", type=Path, default=Path("lab-calibration"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    lines = ["| setting | rows seen | train s | accuracy (95% CI) | lift (points) |",
             "|---|---|---|---|---|"]
    best = float("-inf")
    for name in args.settings.split(","):
        for r in calibrate(name, args.rows, args.test, args.every, args.out):
            best = max(best, r["lift"])
            lines.append(f"| {name} | {r['rows']} | {r['train_s']:.0f} | {r['acc']:.3f} "
                         f"({r['lo']:.3f}-{r['hi']:.3f}) | {r['lift']:+.1f} |")
            print(lines[-1], flush=True)
    print("\n".join(lines))
    print(f"lab_calibration_best_lift: {best:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
