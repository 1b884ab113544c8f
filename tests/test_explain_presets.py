"""The shipped MBPP and LeetCode explain presets run as is on a handful of real items, with
the embedded SmolLM2 as teacher, student and coder (sizes overridden with --set)."""

from __future__ import annotations

import pytest

from engine.cli import main
from engine.datasets_shared import datasets_dir
from engine.paths import RECIPES_DIR
from engine.store import Store, runs, traces

pytestmark = [pytest.mark.slow, pytest.mark.integration]

SMALL = [
    "teacher.kind=embedded", "teacher.model=embedded", "teacher.api_key_env=null",
    "teacher.budget={}", "teacher.concurrency=1", "teacher.max_tokens=40",
    "student.model=embedded", "student.quantization=none", "student.max_length=1024",
    "student.gradient_checkpointing=false",
    "training={max_steps: 1, batch_size: 1, grad_accum: 1, save_steps: 1, eval_steps: 1}",
    "dataset.limit=5", "evaluation.limit=1",
    "stages.explain.per_section=true",
    "stages.plan={plans: 1, max_new_tokens: 24, batch_size: 1}",
    "stages.code.codes_per_plan=1", "stages.code.max_tokens=96",
    "stages.evaluate.k=[1]", "stages.evaluate.budget=1",
]


@pytest.mark.parametrize("preset", ["explain-mbpp.yaml", "explain-leetcode.yaml"])
def test_preset_runs_a_handful_of_items(preset, db_path, monkeypatch):
    monkeypatch.setenv("DISTILLAB_DATASETS", str(datasets_dir()))
    args = ["run", str(RECIPES_DIR / preset), "--db", str(db_path)]
    for value in SMALL:
        args += ["--set", value]
    assert main(args) == 0
    with Store(db_path) as store:
        run = runs.get_run(store, 1)
        assert run.status == "completed", run.error
        explained = traces.page_traces(store, run_id=1, stage="explain", limit=100)
        assert len(explained) == 4  # 5 records: 4 train, 0 validation, 1 test
        assert all(len(traces.get_trace(store, t.id).steps) >= 1 for t in explained
                   if not t.flag)
        evals = traces.evaluations(store, 1, "evaluate")
        assert len(evals) == 1 and evals[0]["details"] is not None
        metrics = runs.latest_metrics(store, 1)
        calls = store.one("SELECT COUNT(*) FROM teacher_calls WHERE run_id = 1")[0]
    assert 0.0 <= metrics["solve@1"] <= 1.0
    assert calls == 4 * 4 + 1  # four sections per explained item, one program
