"""The training process a launcher starts: ``accelerate launch -m engine.student.worker JOB``.

Every process (rank) that accelerate starts runs this module on the same job file, written
by ``engine.student.launch`` beside the rows: it trains with the same ``train_sft`` /
``train_dpo`` as the local launcher, on the same ``out_dir`` (so checkpoints and resume are
the Trainer's own), and talks back to the parent through ``events.jsonl`` in the job's
folder, one JSON object a line:

- ``{"event": name, "value": v, "step": s}``: loss, lr, progress… (rank 0 only, so every
  figure is reported once);
- ``{"log": text, "rank": r}``: a log line (every rank writes; the parent shows rank 0's);
- ``{"oom": step, "rank": r}``: a CUDA out-of-memory; the process exits with ``EXIT_OOM``
  and the parent relaunches with half the micro-batch (``engine.student.train.oom_back_off``);
- ``{"cancelled": text}``, ``{"error": text, "hint": text}``, ``{"done": true, ...}``.

Cancel: the parent creates ``stop`` in the job folder; every step end, the ranks agree
(an all-reduce of "stop seen") so they save the same checkpoint and stop together. The
ranks kill their process group when the parent process disappears (kill -9 of the lab),
so no orphan keeps a GPU busy.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

EXIT_OOM = 75
EVENTS = "events.jsonl"
STOP = "stop"


class _Channel:
    """Appends JSON lines to the job's events file (one write per line: lines of several
    ranks never interleave)."""

    def __init__(self, folder: Path, rank: int) -> None:
        self.path = folder / EVENTS
        self.rank = rank

    def send(self, **record: Any) -> None:
        line = (json.dumps(record) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)


def _watch_parent(pid: int) -> None:
    """Kill this process group when the lab process that launched it is gone."""
    def watch() -> None:
        while True:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os.killpg(os.getpgrp(), signal.SIGKILL)
            except PermissionError:
                pass
            time.sleep(1.0)

    threading.Thread(target=watch, daemon=True, name="parent-watch").start()


def _agreed_stop(folder: Path) -> bool:
    """True on every rank as soon as one rank sees the stop file."""
    flag = (folder / STOP).exists()
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    device = torch.device("cuda", torch.cuda.current_device()) \
        if dist.get_backend() == "nccl" else torch.device("cpu")
    seen = torch.tensor([int(flag)], device=device)
    dist.all_reduce(seen, op=dist.ReduceOp.MAX)
    return bool(seen.item())


def _callback(name: str) -> Any:
    """An instance of a TrainerCallback named "module:Class" (extra callbacks of a job)."""
    module, _, cls = name.partition(":")
    return getattr(importlib.import_module(module), cls)()


def run_job(job_path: Path) -> int:
    """Train one job file; returns the process exit status."""
    import torch
    from transformers import TrainerCallback

    from engine.errors import Cancelled, DistillabError
    from engine.recipes import StudentSpec, TrainingSpec
    from engine.student.train import train_dpo, train_sft

    job = json.loads(job_path.read_text())
    folder = job_path.parent
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    channel = _Channel(folder, rank)
    _watch_parent(int(job["parent_pid"]))

    class StepSeen(TrainerCallback):  # the step an out-of-memory happened at
        step = 0

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            StepSeen.step = state.global_step

    def read_rows(name: str) -> list[dict[str, Any]]:
        path = folder / name
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                if line.strip()]

    def on_event(name: str, value: float, step: int) -> None:
        channel.send(event=name, value=value, step=step)

    def on_log(message: str) -> None:
        channel.send(log=message, rank=rank)

    on_log(f"accelerate: {world} process{'es' if world != 1 else ''}, micro-batch "
           f"{job['batch']}, gradient accumulation {job['accum']}")
    kwargs: dict[str, Any] = dict(
        student=StudentSpec(**job["student"]), training=TrainingSpec(**job["training"]),
        out_dir=Path(job["out_dir"]), eval_rows=read_rows("eval_rows.jsonl") or None,
        on_event=on_event if rank == 0 else None, on_log=on_log,
        should_stop=lambda: _agreed_stop(folder), seed=int(job["seed"]),
        callbacks=[StepSeen(), *(_callback(c) for c in job.get("callbacks", []))],
        init_adapter=Path(job["init_adapter"]) if job.get("init_adapter") else None,
        retry_oom=False, batch=int(job["batch"]), accum=int(job["accum"]))
    try:
        if job["kind"] == "dpo":
            result = train_dpo(read_rows("rows.jsonl"), beta=float(job["beta"]),
                               continuation=bool(job["continuation"]), **kwargs)
        else:
            result = train_sft(read_rows("rows.jsonl"), **kwargs)
    except torch.OutOfMemoryError:
        channel.send(oom=StepSeen.step, rank=rank)
        return EXIT_OOM
    except Cancelled as exc:
        if rank == 0:
            channel.send(cancelled=str(exc))
        return 0
    except DistillabError as exc:
        channel.send(error=exc.message, hint=exc.hint, rank=rank)
        return 1
    if rank == 0:
        channel.send(done=True, world_size=world, steps=result.steps)
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: accelerate launch -m engine.student.worker JOB.json", file=sys.stderr)
        return 2
    return run_job(Path(argv[0]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
