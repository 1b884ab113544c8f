"""Training on a cluster: `distillab export N --what training --stage train` writes TRL rows,
the resolved config, an accelerate config, launch.sh and train_trl.py; launch.sh really
trains (TRL + accelerate, here on the CPU); `distillab import-adapter` brings the adapter
back (checked against the run's student) and `distillab resume` evaluates with it."""

from __future__ import annotations

import json
import os
import py_compile
import subprocess
import sys
from pathlib import Path

import pytest

from engine import events as ev
from engine import runner
from engine.cli import main
from engine.errors import DistillabError
from engine.store import Store, runs
from engine.validate import parse_recipe

from .conftest import write_jsonl
from .fake_openai_server import FakeServer
from .test_cot import questions, recipe_text, respond
from .tiny_model import dpo_rows, ensure_tiny_model, sft_rows


def test_trl_rows_are_conversational_for_chat_prompts_and_plain_for_text():
    from engine.cluster import trl_rows

    chat = trl_rows("sft", [{**sft_rows(1)[0], "weight": 2.0}])[0]
    assert chat == {"prompt": [{"role": "user", "content": "What is 0 plus 0?"}],
                    "completion": [{"role": "assistant",
                                    "content": "We add 0 and 0, so the answer is 0."}]}
    assert trl_rows("sft", [{"prompt": "Q ", "completion": "A"}]) == [
        {"prompt": "Q ", "completion": "A"}]
    pair = trl_rows("dpo", dpo_rows(1))[0]
    assert set(pair) == {"prompt", "chosen", "rejected"}
    assert pair["chosen"] == [{"role": "assistant", "content": "The answer is 0."}]
    assert trl_rows("dpo", [{"prompt": "p", "chosen": "c", "rejected": "r"}]) == [
        {"prompt": "p", "chosen": "c", "rejected": "r"}]


def test_train_trl_script_compiles(tmp_path):
    from engine.cluster import SCRIPT

    py_compile.compile(str(SCRIPT), cfile=str(tmp_path / "x.pyc"), doraise=True)


def _adapter(folder: Path, base: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base,
                                                            "peft_type": "LORA"}))
    (folder / "adapter_model.safetensors").write_bytes(b"0")
    return folder


@pytest.fixture
def cancelled_at_train(tmp_path, db_path, models_home, monkeypatch):
    """A cot run whose baseline and solve stages are done, cancelled as train starts."""
    monkeypatch.setenv("DISTILLAB_TEST_KEY", "sk-test-cot")
    data = write_jsonl(tmp_path / "q.jsonl", questions())
    training = {"stage": None}

    def watch(event: ev.Event) -> None:
        if isinstance(event, ev.StageStarted):
            training["stage"] = event.stage

    with FakeServer() as server:
        server.responder = respond
        text = recipe_text(data, server.url, ensure_tiny_model(models_home))
        run_id, status = runner.run_recipe(parse_recipe(text, str(tmp_path / "cot.yaml"),
                                                        tmp_path), db_path, on_event=watch,
                                           cancelled=lambda: training["stage"] == "train")
    assert status == "cancelled"
    return run_id


@pytest.mark.slow
def test_export_train_on_the_cluster_import_and_evaluate(cancelled_at_train, tmp_path, db_path,
                                                        models_home, capsys):
    run_id = cancelled_at_train
    tiny = ensure_tiny_model(models_home)
    bundle = tmp_path / "bundle"
    assert main(["export", str(run_id), "--what", "training", "--stage", "train",
                 "--db", str(db_path), "--out", str(bundle)]) == 0
    assert "launch.sh" in capsys.readouterr().out
    with Store(db_path) as store:
        solved = store.query("SELECT t.item_id FROM traces t JOIN items i ON t.item_id = i.id "
                             "WHERE t.run_id = ? AND t.stage = 'solve' AND t.flag IS NULL "
                             "AND i.split = 'train'", (run_id,))
        assert runs.stages(store, run_id)[2].status != "completed"  # nothing was trained
    rows = [json.loads(x) for x in (bundle / "train.jsonl").read_text().splitlines()]
    assert len(rows) == len(solved) > 0
    assert rows[0]["prompt"][-1]["role"] == "user"
    assert rows[0]["completion"][0]["role"] == "assistant"
    assert rows[0]["completion"][0]["content"].startswith("Step 1:")
    assert (bundle / "eval.jsonl").is_file()
    config = json.loads((bundle / "config.json").read_text())
    assert config["kind"] == "sft" and config["base_model"] == str(tiny)
    assert config["lora"] == {"r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"}
    args = config["trl_args"]
    assert args["learning_rate"] == 0.001 and args["max_steps"] == 3
    assert args["per_device_train_batch_size"] == 2 and args["eval_steps"] == 1
    assert "distributed_type: MULTI_GPU" in (bundle / "accelerate.yaml").read_text()
    launch = (bundle / "launch.sh").read_text()
    assert "accelerate launch --config_file accelerate.yaml" in launch
    assert f"distillab import-adapter {run_id}" in launch and os.access(bundle / "launch.sh",
                                                                         os.X_OK)
    # "the cluster": launch.sh as written, TRL + accelerate, one process on this CPU
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
           "NUM_PROCESSES": "1", "OUT": "output"}
    done = subprocess.run(["bash", str(bundle / "launch.sh")], env=env, capture_output=True,
                          text=True, timeout=540)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    adapter = bundle / "output" / "adapter"
    assert json.loads((adapter / "adapter_config.json").read_text())[
        "base_model_name_or_path"] == str(tiny)
    assert (bundle / "output" / "checkpoint-3").is_dir()

    assert main(["import-adapter", str(run_id), str(adapter), "--db", str(db_path)]) == 0
    assert runner.resume(run_id, db_path) == "completed"
    with Store(db_path) as store:
        stages = {s.name: s.status for s in runs.stages(store, run_id)}
        adapters = [a for a in runs.artifacts(store, run_id) if a["kind"] == "adapter"]
        evaluated = store.one("SELECT COUNT(*) FROM evaluations WHERE run_id = ? AND "
                              "stage = 'evaluate'", (run_id,))[0]
        trained = runs.metric_series(store, run_id, "train/loss")
    assert stages == {"baseline": "completed", "solve": "completed", "train": "completed",
                      "evaluate": "completed"}
    [imported] = adapters
    assert imported["meta"]["stage"] == "train" and Path(imported["path"]).name == \
        "adapter-imported"
    assert imported["meta"]["imported_from"] == str(adapter.resolve())
    assert evaluated > 0 and len(trained) <= 1  # the lab trained at most the cancelled step


@pytest.mark.slow
def test_import_refuses_an_adapter_of_another_model(cancelled_at_train, tmp_path, db_path):
    from engine.cluster import import_adapter

    run_id = cancelled_at_train
    with pytest.raises(DistillabError, match=r"trained on Qwen/Qwen2\.5-0\.5B-Instruct, but run"):
        import_adapter(db_path, run_id, _adapter(tmp_path / "other", "Qwen/Qwen2.5-0.5B-Instruct"))
    with pytest.raises(DistillabError, match="not a PEFT adapter folder"):
        import_adapter(db_path, run_id, tmp_path)
    with pytest.raises(DistillabError, match="has no stage 'sft'"):
        import_adapter(db_path, run_id, tmp_path / "other", stage="sft")
    with Store(db_path) as store:
        assert not [a for a in runs.artifacts(store, run_id) if a["kind"] == "adapter"]
    # the same model at another place (a cluster's copy) is the same student
    from engine.cluster import same_base

    tiny = parse_recipe(runs_recipe(db_path, run_id), "r", None).recipe.student.model
    assert same_base(f"/scratch/models/{Path(tiny).name}", tiny)
    assert not same_base("", tiny)


def runs_recipe(db_path: Path, run_id: int) -> str:
    with Store(db_path) as store:
        return runs.get_run(store, run_id).recipe_yaml


def test_export_needs_the_stages_before_training(tmp_path, db_path, capsys):
    from engine.cluster import export_training

    data = write_jsonl(tmp_path / "d.jsonl", [{"solution": "s", "answer": "1"}])
    from .conftest import smoke_recipe_text

    loaded = parse_recipe(smoke_recipe_text(data), "smoke.yaml", tmp_path)
    with Store(db_path) as store:
        run_id = runner.create(store, loaded)
    with pytest.raises(DistillabError, match="has no stage 'train'"):
        export_training(db_path, run_id, "train")
    with Store(db_path) as store:
        names = [s.name for s in runs.stages(store, run_id)]
    with pytest.raises(DistillabError, match=f"stage {names[0]} of run {run_id} is pending"):
        export_training(db_path, run_id, names[-1])

    def cli(*argv: str) -> tuple[int, str]:
        return main([*argv, "--db", str(db_path)]), capsys.readouterr().err

    code, err = cli("export", str(run_id), "--what", "training")
    assert code == 1 and "needs --stage" in err
    # the smoke paradigm trains nothing: its last stage runs to its end, and that is an error
    code, err = cli("export", str(run_id), "--what", "training", "--stage", names[0])
    assert code == 1 and "did not train the student" in err
