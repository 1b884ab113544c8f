"""Calibrate the controlled lab on the embedded student: accuracy vs training rows, per difficulty.

For each difficulty setting of the `arith` family, the `cot` paradigm (recipes/cot-lab.yaml)
runs with gold step-by-step solutions as training rows (no teacher calls), for several row
counts; the untrained student is evaluated once per setting (the baseline stage of the
first run). Each point is a real run in a throw-away project database: QLoRA-style LoRA SFT
of SmolLM2-135M on the CPU, then greedy evaluation of the same test items with a Wilson
95% interval.

    python bench/lab_calibration.py                       # the three default settings
    python bench/lab_calibration.py --settings d1o2 --rows 0,160,480 --test 100

Prints a Markdown table (setting, rows, optimizer steps, training seconds, accuracy with
CI, lift over the untrained student) and, last, ``lab_calibration_best_lift: <points>``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SETTINGS = {  # name -> lab dials
    "d1o2": {"digits": 1, "ops": 2},
    "d2o2": {"digits": 2, "ops": 2},
    "d2o3": {"digits": 2, "ops": 3},
}


def run_point(db: Path, dials: dict[str, int], rows: int, most: int, test: int, epochs: float,
              baseline: bool) -> dict[str, float]:
    """One run: train on the first ``rows`` of a fixed train split of ``most`` rows, so every
    point of a setting has the same data set, split and test items."""
    from engine import runner
    from engine.store import Store, runs
    from engine.validate import load_recipe

    n = most + test + 20  # train rows + test + a small validation share
    train_frac = round(most / n, 6)
    val_frac = round(20 / n, 6)
    overrides = [
        f"dataset.lab.n={n}", f"dataset.lab.digits={dials['digits']}",
        f"dataset.lab.ops={dials['ops']}",
        f"dataset.split={{train: {train_frac}, validation: {val_frac}, "
        f"test: {1 - train_frac - val_frac}}}",
        f"evaluation.limit={test}", "stages.solve.source=gold",
        f"stages.baseline.enabled={str(baseline).lower()}",
        f"stages.train.max_rows={max(rows, 1)}", f"training.epochs={epochs}",
        f"evaluation.max_new_tokens={20 + 14 * dials['ops']}", "stages.evaluate.batch_size=40",
    ]
    loaded = load_recipe(ROOT / "recipes" / "cot-lab.yaml", overrides)
    t0 = time.monotonic()
    run_id, status = runner.run_recipe(loaded, db)
    if status != "completed":
        raise SystemExit(f"run {run_id} ended {status}")
    with Store(db) as store:
        metrics = runs.latest_metrics(store, run_id)
        seconds = {s.name: s.seconds for s in runs.stages(store, run_id)}
    out = {"wall_s": time.monotonic() - t0, "train_s": seconds.get("train", 0.0),
           **{k: v for k, v in metrics.items() if k.startswith(("accuracy", "train/"))}}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--settings", default=",".join(SETTINGS))
    parser.add_argument("--rows", default="0,80,240,480")
    parser.add_argument("--test", type=int, default=100)
    parser.add_argument("--epochs", type=float, default=2.0)
    args = parser.parse_args()
    counts = [int(r) for r in args.rows.split(",")]
    lines = ["| setting | rows | train s | accuracy (95% CI) | lift (points) |",
             "|---|---|---|---|---|"]
    best = float("-inf")
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.settings.split(","):
            dials = SETTINGS[name]
            db = Path(tmp) / f"{name}.db"
            base = None
            for rows in sorted(counts):
                if rows == 0:
                    continue
                point = run_point(db, dials, rows, max(counts), args.test, args.epochs,
                                  baseline=base is None)
                if base is None:
                    base = (point["accuracy_base"], point["accuracy_base_ci_low"],
                            point["accuracy_base_ci_high"])
                    if 0 in counts:
                        lines.append(f"| {name} | 0 | 0 | {base[0]:.3f} ({base[1]:.3f}-"
                                     f"{base[2]:.3f}) | 0 |")
                lift = 100 * (point["accuracy"] - base[0])
                best = max(best, lift)
                lines.append(f"| {name} | {rows} | {point['train_s']:.0f} | "
                             f"{point['accuracy']:.3f} ({point['accuracy_ci_low']:.3f}-"
                             f"{point['accuracy_ci_high']:.3f}) | {lift:+.1f} |")
                print(lines[-1], flush=True)
    print("\n".join(lines))
    print(f"lab_calibration_best_lift: {best:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
