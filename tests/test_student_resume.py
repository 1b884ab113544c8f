"""kill -9 during QLoRA training, then resume: it continues from the checkpoint's step with the
same optimizer, scheduler, RNG and data position, so the losses match an uninterrupted run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from .conftest import ROOT
from .tiny_model import ensure_tiny_model, sft_rows

pytestmark = pytest.mark.slow

SPEC = dict(quantization="none", max_length=64, lora={"r": 8, "alpha": 16, "dropout": 0.1})
TRAINING = dict(max_steps=6, batch_size=2, grad_accum=2, learning_rate=5e-3, warmup_ratio=0.25,
                lr_scheduler="cosine", logging_steps=1, save_steps=2)
# The child trains slowly (a sleep per step), so the parent can kill it mid-run.
CHILD = """
import json, sys, time
from pathlib import Path
from transformers import TrainerCallback
from engine.recipes import StudentSpec, TrainingSpec
from engine.student.train import train_sft
args = json.loads(sys.argv[1])
class Slow(TrainerCallback):
    def on_step_end(self, *a, **k):
        time.sleep(0.5)
train_sft(args["rows"], student=StudentSpec(**args["student"]), training=TrainingSpec(**args["training"]),
          out_dir=Path(args["out"]), seed=5, callbacks=[Slow()],
          on_event=lambda n, v, s: print(n, v, s, flush=True))
"""


def _losses(events):
    return {s: v for n, v, s in events if n == "loss"}


def test_kill_9_then_resume_continues_from_the_checkpoint(models_home, tmp_path):
    from engine.recipes import StudentSpec, TrainingSpec
    from engine.student.train import last_checkpoint, train_sft

    tiny = ensure_tiny_model(models_home)
    rows = sft_rows(16)
    student = StudentSpec(model=str(tiny), **SPEC)
    out = tmp_path / "killed"
    payload = json.dumps({"rows": rows, "student": student.model_dump(), "training": TRAINING,
                          "out": str(out)})
    child = subprocess.Popen([sys.executable, "-c", CHILD, payload], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while last_checkpoint(out) is None:
            assert child.poll() is None, "training ended before its first checkpoint"
            assert time.monotonic() < deadline
            time.sleep(0.1)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    killed_at = int(last_checkpoint(out).name.split("-")[1])
    assert 2 <= killed_at < 6 and not (out / "train_result.json").exists()

    resumed_events: list = []
    resumed = train_sft(rows, student=student, training=TrainingSpec(**TRAINING), out_dir=out,
                        seed=5, on_event=lambda n, v, s: resumed_events.append((n, v, s)))
    assert resumed.resumed_from == killed_at and resumed.steps == 6
    assert min(_losses(resumed_events)) == killed_at + 1  # not step 1

    straight_events: list = []
    train_sft(rows, student=student, training=TrainingSpec(**TRAINING), out_dir=tmp_path / "once",
              seed=5, on_event=lambda n, v, s: straight_events.append((n, v, s)))
    straight, after = _losses(straight_events), _losses(resumed_events)
    # Same batches, dropout masks, lr and Adam state: equal up to float noise (the Trainer
    # reloads the adapter in fp32 where the first run trained it in its own dtype); a wrong
    # batch or a fresh optimizer would differ by 1e-2 or more.
    for step, loss in after.items():
        assert loss == pytest.approx(straight[step], abs=2e-3), step
