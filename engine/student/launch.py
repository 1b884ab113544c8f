"""Training under ``accelerate launch`` in a child process group (``training.launcher: accelerate``).

``train_launched`` is ``train_sft`` / ``train_dpo`` for several processes (DDP, FSDP or
DeepSpeed, as the accelerate config file says): it writes the rows and a job file to
``<out_dir>/launch/``, starts ``python -m accelerate.commands.launch [--config_file F]
-m engine.student.worker job.json`` in a new session (its own process group), and turns
the worker's ``events.jsonl`` (``engine.student.worker``) back into the caller's
``on_event`` / ``on_log`` calls while it runs. It behaves as the local launcher does:

- checkpoints go to ``out_dir``; a killed child (or a killed lab) resumes from the last
  complete one on the next call, and a finished ``out_dir`` returns its result at once;
- cancel (``should_stop``) asks the ranks to save a checkpoint and stop (``Cancelled``);
  a child that does not stop within ``STOP_GRACE_S`` has its process group killed;
- a CUDA out-of-memory in any rank ends the child; it is relaunched with half the
  micro-batch and twice the accumulation from the last checkpoint (the same note as the
  local retry, in ``TrainResult.adjustments``).

The child's own output (accelerate's, torch's) goes to ``launch/child.log``; its last lines
come with any error.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import Cancelled, DistillabError
from engine.recipes import StudentSpec, TrainingSpec
from engine.student.train import RESULT_FILE, TrainResult, last_checkpoint, oom_back_off
from engine.student.worker import EVENTS, STOP

EventFn = Callable[[str, float, int], None]
LogFn = Callable[[str], None]
LAUNCH_DIR = "launch"
STOP_GRACE_S = 120.0
POLL_S = 0.2
ENGINE_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class _Outcome:
    """What one child run ended with."""

    returncode: int | None = None
    oom_step: int | None = None
    cancelled: str | None = None
    error: tuple[str, str] | None = None
    done: dict[str, Any] = field(default_factory=dict)
    killed: bool = False


def accelerate_config(num_processes: int, *, distributed: str = "MULTI_GPU",
                      mixed_precision: str = "'no'") -> str:
    """A one-node accelerate config file's text (accelerate's own YAML format). With
    MULTI_GPU on a machine without a GPU, each process falls back to gloo on the CPU: how
    the tests and bench/ddp_cpu.py run several ranks here (``--cpu`` starts only one)."""
    return (f"compute_environment: LOCAL_MACHINE\ndistributed_type: {distributed}\n"
            f"num_machines: 1\nnum_processes: {num_processes}\nmachine_rank: 0\n"
            f"mixed_precision: {mixed_precision}\nmain_training_function: main\n"
            "rdzv_backend: static\nsame_network: true\nuse_cpu: false\n")


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Rows as JSON lines, written whole or not at all."""
    tmp = path.with_suffix(path.suffix + ".part")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    tmp.replace(path)


def launch_command(job: Path, config: Path | None) -> list[str]:
    """The ``accelerate launch`` command line that runs the worker on ``job``."""
    return [sys.executable, "-m", "accelerate.commands.launch",
            *(["--config_file", str(config)] if config else []),
            "-m", "engine.student.worker", str(job)]


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _kill_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _run_child(cmd: list[str], folder: Path, *, on_event: EventFn | None, log: LogFn,
               should_stop: Callable[[], bool] | None,
               on_start: Callable[[int], None] | None) -> _Outcome:
    """Run one child to its end, forwarding its events; kill its group if we leave early."""
    events = folder / EVENTS
    events.unlink(missing_ok=True)
    (folder / STOP).unlink(missing_ok=True)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ENGINE_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    out = _Outcome()
    offset, partial = 0, b""
    stop_at: float | None = None

    def drain() -> None:
        nonlocal offset, partial
        try:
            with events.open("rb") as fh:
                fh.seek(offset)
                data = fh.read()
        except FileNotFoundError:
            return
        offset += len(data)
        *lines, partial = (partial + data).split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            rec = json.loads(line)
            if "event" in rec:
                if on_event is not None:
                    on_event(rec["event"], float(rec["value"]), int(rec["step"]))
            elif "log" in rec:
                if rec.get("rank", 0) == 0:
                    log(rec["log"])
            elif "oom" in rec:
                out.oom_step = int(rec["oom"]) if out.oom_step is None else out.oom_step
            elif "cancelled" in rec:
                out.cancelled = rec["cancelled"]
            elif "error" in rec:
                out.error = out.error or (rec["error"], rec.get("hint", ""))
            elif "done" in rec:
                out.done = rec

    with (folder / "child.log").open("ab") as child_log:
        proc = subprocess.Popen(cmd, stdout=child_log, stderr=subprocess.STDOUT, env=env,
                                cwd=str(folder), start_new_session=True)
    try:
        if on_start is not None:
            on_start(proc.pid)
        while proc.poll() is None:
            drain()
            if stop_at is None and should_stop is not None and should_stop():
                (folder / STOP).touch()
                stop_at = time.monotonic()
                log("cancel: asking the training processes to save a checkpoint and stop")
            elif stop_at is not None and time.monotonic() - stop_at > STOP_GRACE_S:
                log(f"the training processes did not stop within {STOP_GRACE_S:.0f} s: "
                    "killing them")
                _kill_group(proc, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    _kill_group(proc, signal.SIGKILL)
                out.killed = True
            time.sleep(POLL_S)
        drain()
    finally:
        if proc.poll() is None:  # we are leaving (an error, Ctrl-C): take the ranks along
            _kill_group(proc, signal.SIGKILL)
            proc.wait()
    # accelerate's launcher can end before a rank it lost track of: clear the group
    _kill_group(proc, signal.SIGKILL)
    out.returncode = proc.returncode
    if out.killed and out.cancelled is None:
        out.cancelled = "training was stopped (its processes were killed); a resumed run " \
                        "continues from the last checkpoint"
    return out


def train_launched(kind: str, rows: Sequence[dict[str, Any]], *, student: StudentSpec,
                   training: TrainingSpec, out_dir: Path, config: Path | None = None,
                   eval_rows: Sequence[dict[str, Any]] | None = None,
                   on_event: EventFn | None = None, should_stop: Callable[[], bool] | None = None,
                   on_log: LogFn | None = None, seed: int = 0, beta: float = 0.1,
                   continuation: bool = False, init_adapter: Path | None = None,
                   callbacks: Sequence[str] = (),
                   on_start: Callable[[int], None] | None = None) -> TrainResult:
    """SFT (``kind`` "sft") or DPO ("dpo") under ``accelerate launch``; ``config`` is the
    accelerate config file (none: accelerate's default), ``callbacks`` extra
    TrainerCallbacks for the worker as "module:Class" names (tests slow it down or raise
    an out-of-memory inside the child), ``on_start(pid)`` gets each child's process (group) id. The rest
    as for ``train_sft`` / ``train_dpo``. The result has no model (it lives in the child):
    load ``result.adapter_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    done = out_dir / RESULT_FILE
    if done.is_file():
        return TrainResult.from_json(done.read_text())
    if not rows:
        raise DistillabError("no training rows", "check that the earlier stages produced data")
    if config is not None and not config.is_file():
        raise DistillabError(f"the accelerate config {config} does not exist",
                             "write one with `accelerate config --config_file PATH`, or fix "
                             "training.accelerate_config (relative to the recipe's folder)")
    log = on_log or (lambda _msg: None)
    folder = out_dir / LAUNCH_DIR
    folder.mkdir(exist_ok=True)
    write_jsonl(folder / "rows.jsonl", rows)
    write_jsonl(folder / "eval_rows.jsonl", eval_rows or [])
    batch, accum = training.batch_size, training.grad_accum
    adjustments: list[str] = []
    resumed_from: int | None = None
    while True:
        checkpoint = last_checkpoint(out_dir)
        if checkpoint is not None and resumed_from is None:
            resumed_from = int(checkpoint.name.split("-")[-1])
        job = {"kind": kind, "student": student.model_dump(mode="json"),
               "training": training.model_dump(mode="json"), "out_dir": str(out_dir),
               "seed": seed, "beta": beta, "continuation": continuation,
               "init_adapter": str(init_adapter) if init_adapter else None,
               "batch": batch, "accum": accum, "callbacks": list(callbacks),
               "parent_pid": os.getpid()}
        (folder / "job.json").write_text(json.dumps(job, indent=1))
        cmd = launch_command(folder / "job.json", config)
        outcome = _run_child(cmd, folder, on_event=on_event, log=log, should_stop=should_stop,
                             on_start=on_start)
        if outcome.oom_step is not None:
            note, batch, accum = oom_back_off(outcome.oom_step, batch, accum, out_dir)
            log(note)
            adjustments.append(note)
            continue
        if outcome.cancelled is not None:
            raise Cancelled(outcome.cancelled)
        if outcome.error is not None:
            raise DistillabError(*outcome.error)
        if outcome.returncode != 0 or not done.is_file():
            how = (f"was killed by signal {-outcome.returncode}"
                   if outcome.returncode is not None and outcome.returncode < 0
                   else f"ended with exit status {outcome.returncode}")
            raise DistillabError(
                f"the training process (accelerate launch) {how}; its last output:\n"
                f"{_tail(folder / 'child.log')}",
                f"the whole output is in {folder / 'child.log'}; a re-run resumes from the "
                "last checkpoint")
        break
    result = TrainResult.from_json(done.read_text())
    result.adjustments = [*adjustments, *result.adjustments]
    if resumed_from is not None:
        result.resumed_from = resumed_from
    done.write_text(result.to_json())
    return result
