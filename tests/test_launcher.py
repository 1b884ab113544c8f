"""training.launcher: accelerate. Two real processes (torchrun under `accelerate launch`, gloo on
the CPU) train the tiny student: loss reported once per step (rank 0), the adapter saved
once, kill -9 of the child then a resume from its checkpoint, a cancel both ranks agree on,
the out-of-memory relaunch, and the cot paradigm's train stage under the launcher."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from engine.errors import Cancelled, DistillabError
from engine.recipes import StudentSpec, TrainingSpec
from engine.student.launch import accelerate_config as launch_config
from engine.validate import parse_recipe

from .tiny_model import ensure_tiny_model, sft_rows

STUDENT = dict(quantization="none", max_length=64, gradient_checkpointing=False,
               lora={"r": 8, "alpha": 16, "dropout": 0.0})
TRAINING = dict(max_steps=4, batch_size=2, grad_accum=1, learning_rate=5e-3,
                logging_steps=1, save_steps=2)
# On a machine without a GPU, accelerate's --cpu starts a single process (several need
# MPI); the multi-GPU launcher (torchrun) starts them, and each falls back to gloo on the CPU.


def accelerate_config(folder: Path, n: int = 2) -> Path:
    path = folder / f"accelerate-{n}.yaml"
    path.write_text(launch_config(n))
    return path


def records(out: Path) -> list[dict]:
    text = (out / "launch" / "events.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture
def student(models_home):
    return StudentSpec(model=str(ensure_tiny_model(models_home)), **STUDENT)


# -- the recipe ---------------------------------------------------------------------------


def _recipe(training: str) -> str:
    return ("schema_version: 1\nname: t\nparadigm: smoke\ndataset:\n  path: d.jsonl\n"
            f"training: {training}\n")


def test_the_recipe_names_the_launcher_and_its_config(tmp_path):
    from engine.recipes import RecipeError

    loaded = parse_recipe(_recipe("{launcher: accelerate, accelerate_config: ddp.yaml}"),
                          "r.yaml", tmp_path)
    assert loaded.recipe.training.launcher == "accelerate"
    assert parse_recipe(_recipe("{epochs: 1}"), "r.yaml", tmp_path).recipe.training.launcher \
        == "local"
    with pytest.raises(RecipeError, match="accelerate_config is read only with launcher: "
                                          "accelerate") as err:
        parse_recipe(_recipe("{accelerate_config: ddp.yaml}"), "r.yaml", tmp_path)
    assert "r.yaml:6: training" in str(err.value)
    with pytest.raises(RecipeError, match=r"must be an accelerate config file"):
        parse_recipe(_recipe("{launcher: accelerate, accelerate_config: ddp.txt}"), "r.yaml",
                     tmp_path)
    with pytest.raises(RecipeError, match="launcher"):
        parse_recipe(_recipe("{launcher: slurm}"), "r.yaml", tmp_path)


def test_the_launcher_does_not_change_what_a_study_may_reuse(tmp_path):
    from engine.paradigms import PARADIGMS
    from engine.studies.reuse import stage_keys

    def key(training: str) -> str:
        text = _recipe(training).replace("paradigm: smoke", "paradigm: cot")
        return stage_keys(parse_recipe(text, "r.yaml", tmp_path), PARADIGMS["cot"].stages,
                          "h")["train"]

    keys = [key(t) for t in ("{epochs: 1}", "{epochs: 1, launcher: accelerate}", "{epochs: 2}")]
    assert keys[0] == keys[1] != keys[2]


def test_a_missing_accelerate_config_is_a_clear_error(student, tmp_path):
    from engine.student.launch import train_launched

    with pytest.raises(DistillabError, match="does not exist") as err:
        train_launched("sft", sft_rows(4), student=student, training=TrainingSpec(**TRAINING),
                       out_dir=tmp_path / "o", config=tmp_path / "nope.yaml")
    assert "accelerate config" in err.value.hint


# -- two processes ------------------------------------------------------------------------


@pytest.mark.slow
def test_two_processes_report_once_and_save_the_adapter_once(student, tmp_path):
    from engine.student.launch import train_launched

    events, logs = [], []
    out = tmp_path / "ddp"
    result = train_launched("sft", sft_rows(16), student=student,
                            training=TrainingSpec(**TRAINING), out_dir=out,
                            config=accelerate_config(tmp_path), seed=3,
                            on_event=lambda n, v, s: events.append((n, v, s)),
                            on_log=logs.append)
    assert result.steps == 4 and (result.adapter_dir / "adapter_model.safetensors").is_file()
    assert [s for n, _v, s in events if n == "loss"] == [1, 2, 3, 4]  # once per step
    assert [s for n, v, s in events if n == "progress"] == [1, 2, 3, 4]
    assert any(n == "tokens_per_s" for n, _v, _s in events)
    assert "accelerate: 2 processes, micro-batch 2, gradient accumulation 1" in logs
    sent = records(out)
    assert {r["rank"] for r in sent if "log" in r} == {0, 1}  # both ranks trained
    saved = [r for r in sent if "adapter saved" in r.get("log", "")]
    assert len(saved) == 1 and saved[0]["rank"] == 0
    assert [r for r in sent if "done" in r] == [{"done": True, "world_size": 2, "steps": 4}]
    # a finished folder is the result: no second launch
    again = train_launched("sft", sft_rows(16), student=student,
                           training=TrainingSpec(**TRAINING), out_dir=out,
                           config=accelerate_config(tmp_path))
    assert again.steps == 4 and again.metrics == result.metrics


@pytest.mark.slow
def test_kill_9_of_the_child_then_resume_from_its_checkpoint(student, tmp_path):
    from engine.student.launch import train_launched
    from engine.student.train import last_checkpoint

    out = tmp_path / "killed"
    training = TrainingSpec(**{**TRAINING, "max_steps": 6})
    config = accelerate_config(tmp_path)
    pids: list[int] = []
    failure: list[BaseException] = []

    def first() -> None:
        try:
            train_launched("sft", sft_rows(16), student=student, training=training,
                           out_dir=out, config=config, seed=5, on_start=pids.append,
                           callbacks=["tests.launcher_helpers:Slow"])
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=first)
    worker.start()
    deadline = time.monotonic() + 300
    while last_checkpoint(out) is None:
        assert worker.is_alive(), f"training ended before its first checkpoint: {failure}"
        assert time.monotonic() < deadline
        time.sleep(0.1)
    os.killpg(pids[0], signal.SIGKILL)  # the launcher and both ranks
    worker.join(60)
    assert not worker.is_alive()
    assert isinstance(failure[0], DistillabError) and "killed by signal 9" in str(failure[0])
    killed_at = int(last_checkpoint(out).name.split("-")[1])
    assert 2 <= killed_at < 6 and not (out / "train_result.json").exists()

    events: list = []
    resumed = train_launched("sft", sft_rows(16), student=student, training=training,
                             out_dir=out, config=config, seed=5,
                             on_event=lambda n, v, s: events.append((n, v, s)))
    assert resumed.resumed_from == killed_at and resumed.steps == 6
    assert [s for n, _v, s in events if n == "loss"] == list(range(killed_at + 1, 7))
    assert (out / "adapter" / "adapter_model.safetensors").is_file()


@pytest.mark.slow
def test_cancel_stops_both_ranks_at_one_checkpoint(student, tmp_path):
    from engine.student.launch import train_launched
    from engine.student.train import last_checkpoint

    out = tmp_path / "cancel"
    steps: list[int] = []
    logs: list[str] = []
    with pytest.raises(Cancelled, match="training stopped at step"):
        train_launched("sft", sft_rows(16), student=student,
                       training=TrainingSpec(**{**TRAINING, "max_steps": 50, "save_steps": 100}),
                       out_dir=out, config=accelerate_config(tmp_path), on_log=logs.append,
                       callbacks=["tests.launcher_helpers:Slow"],
                       on_event=lambda n, v, s: steps.append(s) if n == "progress" else None,
                       should_stop=lambda: bool(steps))
    stopped = last_checkpoint(out)
    assert stopped is not None and 1 <= int(stopped.name.split("-")[1]) < 50
    assert not (out / "train_result.json").exists() and not (out / "adapter").exists()
    assert any(m.startswith("cancel:") for m in logs)


@pytest.mark.slow
def test_out_of_memory_relaunches_with_half_the_micro_batch(student, tmp_path):
    from engine.student.launch import train_launched

    logs: list[str] = []
    result = train_launched("sft", sft_rows(16), student=student,
                            training=TrainingSpec(**{**TRAINING, "batch_size": 4,
                                                     "max_steps": 5}),
                            out_dir=tmp_path / "oom", config=accelerate_config(tmp_path, 1),
                            on_log=logs.append, callbacks=["tests.launcher_helpers:OOMOnce"])
    assert result.steps == 5 and result.resumed_from == 2
    [note] = result.adjustments
    assert "micro-batch 4 -> 2" in note and "gradient accumulation 1 -> 2" in note
    assert "checkpoint-2" in note and note in logs
    assert "accelerate: 1 process, micro-batch 2, gradient accumulation 2" in logs
    stored = json.loads((tmp_path / "oom" / "train_result.json").read_text())
    assert stored["adjustments"] == [note]


# -- a paradigm's train stage ---------------------------------------------------------------


@pytest.mark.slow
def test_the_cot_train_stage_runs_under_accelerate(tmp_path, db_path, models_home, monkeypatch):
    from engine import runner
    from engine.store import Store, runs

    from .conftest import write_jsonl
    from .fake_openai_server import FakeServer
    from .test_cot import questions, recipe_text, respond

    monkeypatch.setenv("DISTILLAB_TEST_KEY", "sk-test-cot")
    accelerate_config(tmp_path, 2).rename(tmp_path / "ddp.yaml")
    data = write_jsonl(tmp_path / "q.jsonl", questions())
    with FakeServer() as server:
        server.responder = respond
        text = recipe_text(data, server.url, ensure_tiny_model(models_home)).replace(
            "training: {", "training: {launcher: accelerate, accelerate_config: ddp.yaml, ")
        run_id, status = runner.run_recipe(parse_recipe(text, str(tmp_path / "cot.yaml"),
                                                        tmp_path), db_path)
    with Store(db_path) as store:
        assert status == "completed", runs.get_run(store, run_id).error
        losses = runs.metric_series(store, run_id, "train/loss")
        adapters = [a for a in runs.artifacts(store, run_id) if a["kind"] == "adapter"]
        files = db_path.parent / f"{db_path.stem}-files" / f"run-{run_id}" / "train"
    assert len(losses) == 3
    assert [Path(a["path"]) for a in adapters] == [files / "adapter"]
    assert "world_size\": 2" in (files / "launch" / "events.jsonl").read_text()


LAB = """
import json, sys
from pathlib import Path
from engine.recipes import StudentSpec, TrainingSpec
from engine.student.launch import train_launched
from tests.tiny_model import sft_rows
a = json.loads(sys.argv[1])
train_launched("sft", sft_rows(16), student=StudentSpec(**a["student"]),
               training=TrainingSpec(**a["training"]), out_dir=Path(a["out"]),
               config=Path(a["config"]), callbacks=["tests.launcher_helpers:Slow"],
               on_start=lambda pid: print(pid, flush=True))
"""


@pytest.mark.slow
def test_the_ranks_go_when_the_lab_is_killed(student, tmp_path):
    """kill -9 of the lab itself leaves no orphan ranks holding the GPU."""
    import subprocess
    import sys

    from engine.student.train import last_checkpoint

    from .conftest import ROOT

    out = tmp_path / "orphans"
    args = json.dumps({"student": student.model_dump(), "out": str(out),
                       "training": {**TRAINING, "max_steps": 50},
                       "config": str(accelerate_config(tmp_path))})
    lab = subprocess.Popen([sys.executable, "-c", LAB, args], cwd=ROOT, stdout=subprocess.PIPE,
                           text=True)
    try:
        group = int(lab.stdout.readline())
        deadline = time.monotonic() + 300
        while last_checkpoint(out) is None:
            assert lab.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        lab.kill()
        lab.wait(30)
        deadline = time.monotonic() + 20
        while True:
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                break  # the whole group is gone
            assert time.monotonic() < deadline, "the training processes outlived the lab"
            time.sleep(0.2)
    finally:
        if lab.poll() is None:
            lab.kill()
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, UnboundLocalError):
            pass


@pytest.mark.slow
def test_dpo_after_sft_runs_under_two_processes(student, tmp_path):
    from peft import PeftConfig

    from engine.student.launch import train_launched
    from engine.student.train import train_sft

    from .tiny_model import dpo_rows

    sft = train_sft(sft_rows(8), student=student, training=TrainingSpec(**TRAINING),
                    out_dir=tmp_path / "sft")
    events: list = []
    result = train_launched("dpo", dpo_rows(8), student=student,
                            training=TrainingSpec(**{**TRAINING, "max_steps": 2}),
                            out_dir=tmp_path / "dpo", config=accelerate_config(tmp_path),
                            beta=0.2, init_adapter=sft.adapter_dir,
                            on_event=lambda n, v, s: events.append((n, v, s)))
    assert result.steps == 2
    assert [s for n, _v, s in events if n == "loss"] == [1, 2]
    assert [s for n, _v, s in events if n == "reward_margin"] == [1, 2]
    assert PeftConfig.from_pretrained(str(result.adapter_dir)).base_model_name_or_path \
        == student.model
