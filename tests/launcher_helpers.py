"""Trainer callbacks the launcher tests hand to ``engine.student.worker`` by name
("tests.launcher_helpers:Class"): they run inside the accelerate child processes."""

from __future__ import annotations

import time

from transformers import TrainerCallback


class Slow(TrainerCallback):
    """Half a second per step, so a test can kill the child between checkpoints."""

    def on_step_end(self, args, state, control, **kw):
        time.sleep(0.5)


class OOMOnce(TrainerCallback):
    """No GPU here: raise what CUDA would, at step 3 while the micro-batch is still 4."""

    def on_step_end(self, args, state, control, **kw):
        import torch

        if state.global_step == 3 and args.per_device_train_batch_size == 4:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
