"""training.launcher: accelerate on the CPU: 2-process DDP (gloo) vs 1 process, tokens/s.

Same rows, same steps, same per-process micro-batch on the tiny test model, each run a fresh
``accelerate launch`` child (``engine.student.launch.train_launched``); two processes train
twice the tokens per step, so the ratio of tokens/s says what the plumbing (gradient
all-reduce over gloo, two Python processes on the machine's cores) gives back. It is the
plumbing that is measured: the tiny model is all overhead, and CPU cores shared with other
jobs skew it. tokens/s = trained-on tokens (TRL's ``num_tokens``, all ranks) /
``train_runtime`` (the training loop; loading is outside). Runs alternate, repeated.

    python bench/ddp_cpu.py [--steps 200] [--repeats 3]

Last line: ``ddp_cpu_ratio: <2-process tokens/s / 1-process tokens/s>`` (medians).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))



def specs(model: str, steps: int, batch: int, seq: int) -> tuple[Any, Any]:
    """The student and training sections every measured run shares (no checkpoint inside)."""
    from engine.recipes import StudentSpec, TrainingSpec

    student = StudentSpec(model=model, quantization="none", max_length=seq,
                          gradient_checkpointing=False, lora={"r": 8, "alpha": 16,
                                                              "dropout": 0.0})
    training = TrainingSpec(max_steps=steps, batch_size=batch, grad_accum=1,
                            learning_rate=2e-3, warmup_ratio=0.0, logging_steps=1,
                            save_steps=10 * steps, lr_scheduler="constant")
    return student, training


def model_path(name: str, cache: Path) -> str:
    if name == "tiny":
        from tests.tiny_model import ensure_tiny_model

        return str(ensure_tiny_model(cache))
    return name


def measure(mode: str, nproc: int, rows: Sequence[dict[str, Any]], student: Any, training: Any,
            work: Path) -> dict[str, Any]:
    """One run: mode "local" (in this process) or "accelerate" with ``nproc`` processes;
    its tokens/s and loss per step."""
    events: list[tuple[str, float, int]] = []
    out = Path(tempfile.mkdtemp(dir=work, prefix=f"{mode}{nproc}-"))

    def on_event(n: str, v: float, s: int) -> None:
        events.append((n, v, s))

    if mode == "local":
        from engine.student.train import train_sft

        result = train_sft(rows, student=student, training=training, out_dir=out, seed=1,
                           on_event=on_event)
    else:
        from engine.student.launch import accelerate_config, train_launched

        config = out / "accelerate.yaml"
        config.write_text(accelerate_config(nproc, distributed="MULTI_GPU" if nproc > 1 else "NO"))
        result = train_launched("sft", rows, student=student, training=training,
                                out_dir=out / "run", config=config, seed=1, on_event=on_event)
    m = result.metrics
    return {"tokens_per_s": m["num_tokens"] / m["train_runtime"], "tokens": m["num_tokens"],
            "runtime_s": m["train_runtime"], "loss": {s: v for n, v, s in events if n == "loss"}}


def median(runs: list[dict[str, Any]]) -> float:
    return statistics.median(r["tokens_per_s"] for r in runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    from tests.tiny_model import sft_rows

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        student, training = specs(model_path(args.model, work), args.steps, args.batch, args.seq)
        rows = sft_rows(64)
        got: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
        for _ in range(args.repeats):
            for n in (1, 2):
                r = measure("accelerate", n, rows, student, training, work)
                got[n].append(r)
                print(f"{n} process{'es' if n > 1 else ''}: {r['tokens']:.0f} tokens in "
                      f"{r['runtime_s']:.2f} s = {r['tokens_per_s']:.0f} tokens/s", flush=True)
    one, two = median(got[1]), median(got[2])
    print(f"median tokens/s: 1 process {one:.0f}, 2 processes {two:.0f}")
    print(f"ddp_cpu_ratio: {two / one:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
