"""The same SFT under ``training.launcher: local`` and ``accelerate`` (1 process): loss and speed.

Issue 20's GPU acceptance item: on one GPU, the two launchers give the same loss curve
(within 1%) and tokens/s within 5%. Same model, rows, seed and steps; the local run trains
in this process, the accelerate run in an ``accelerate launch`` child with one process
(``engine.student.launch.train_launched``); runs alternate, repeated. The device is what
the engine picks (CUDA when present, else the CPU).

    python bench/launcher_parity.py                                   # CPU, tiny test model
    python bench/launcher_parity.py --model Qwen/Qwen2.5-0.5B-Instruct --batch 8 --seq 512

Prints the largest relative loss difference over the steps, and tokens/s of each; last line:
``launcher_parity_loss_maxdiff: <max |loss_acc - loss_local| / loss_local>``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ddp_cpu import measure, model_path, specs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    import torch

    from tests.tiny_model import sft_rows

    print(f"device: {torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'}")
    runs: dict[str, list[dict]] = {"local": [], "accelerate": []}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        student, training = specs(model_path(args.model, work), args.steps, args.batch, args.seq)
        rows = sft_rows(64)
        for _ in range(args.repeats):
            for mode in ("local", "accelerate"):
                r = measure(mode, 1, rows, student, training, work)
                runs[mode].append(r)
                print(f"{mode}: {r['tokens']:.0f} tokens in {r['runtime_s']:.2f} s = "
                      f"{r['tokens_per_s']:.0f} tokens/s; loss step 1 {r['loss'][1]:.4f}, "
                      f"step {args.steps} {r['loss'][args.steps]:.4f}", flush=True)
    local, acc = runs["local"][0]["loss"], runs["accelerate"][0]["loss"]
    assert sorted(local) == sorted(acc), "the two runs logged different steps"
    diff = max(abs(acc[s] - local[s]) / abs(local[s]) for s in local)
    speed = {m: statistics.median(r["tokens_per_s"] for r in rs) for m, rs in runs.items()}
    ratio = speed["accelerate"] / speed["local"]
    print(f"median tokens/s: local {speed['local']:.0f}, accelerate {speed['accelerate']:.0f} "
          f"(ratio {ratio:.3f}; goal within 5%: {'yes' if abs(ratio - 1) <= 0.05 else 'no'})")
    print(f"loss curves: largest relative difference {diff:.2e} over {len(local)} steps "
          f"(goal within 1%: {'yes' if diff <= 0.01 else 'no'})")
    print(f"launcher_parity_tokens_ratio: {ratio:.3f}")
    print(f"launcher_parity_loss_maxdiff: {diff:.6f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
