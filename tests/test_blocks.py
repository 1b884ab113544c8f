"""The building blocks every paradigm shares (engine/paradigms/blocks.py), on a real store,
a real StageContext and (for the teacher blocks) a real OpenAI-protocol server on loopback."""

from __future__ import annotations

import pytest

from engine import events as ev
from engine import runner
from engine.data import load_dataset
from engine.metrics import wilson
from engine.paradigms import PARADIGMS
from engine.paradigms import blocks as B
from engine.paradigms.cot import params as CP
from engine.stage import StageContext
from engine.store import Store, runs, traces
from engine.teacher import BudgetExhausted, Request
from engine.validate import parse_recipe

from .conftest import write_jsonl
from .fake_openai_server import FakeServer


def _context(store: Store, tmp_path, text: str, stage: str, events: list) -> StageContext:
    loaded = parse_recipe(text, "r.yaml", tmp_path)
    run_id = runner.create(store, loaded)
    dataset_id = load_dataset(store, loaded.recipe.dataset, loaded.recipe.seed, tmp_path)
    runs.set_run(store, run_id, dataset_id=dataset_id)
    spec = next(s for s in PARADIGMS[loaded.recipe.paradigm].stages if s.name == stage)
    return StageContext(store=store, run_id=run_id, loaded=loaded, spec=spec,
                        dataset_id=dataset_id, emit=events.append, cancelled=lambda: False)


def _cot_text(data, url: str = "http://127.0.0.1:9/v1", budget: str = "") -> str:
    return ("schema_version: 1\nname: b\nparadigm: cot\nseed: 1\n"
            f"dataset:\n  path: {data}\n  split: {{train: 0.5, validation: 0.25, test: 0.25}}\n"
            f"teacher:\n  kind: openai\n  base_url: {url}\n  model: fake-model\n"
            "  api_key_env: DISTILLAB_TEST_KEY\n  use_keyring: false\n  concurrency: 3\n"
            f"  max_tokens: 16\n{budget}"
            "evaluation: {samples: 3, k: [1, 2, 3]}\n")


@pytest.fixture
def data(tmp_path):
    return write_jsonl(tmp_path / "d.jsonl", [{"question": f"q{i}", "answer": str(i)}
                                              for i in range(12)])


def test_params_chunks_and_other_stages_params(tmp_path, db_path, data):
    with Store(db_path) as store:
        ctx = _context(store, tmp_path, _cot_text(data), "solve", [])
        assert B.params_of(ctx, CP.SolveParams).source == "teacher"
        with pytest.raises(AssertionError):
            B.params_of(ctx, CP.TrainParams)
        assert B.stage_params(ctx, "evaluate", CP.EvaluateParams).task == "gsm8k"
        assert B.chunks(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
        assert B.chunks([], 3) == []
        assert len(B.eval_items(ctx)) == 3 and all(it.split == "test" for it in B.eval_items(ctx))


def test_report_accuracy_writes_wilson_interval_metrics(tmp_path, db_path, data):
    events: list = []
    with Store(db_path) as store:
        ctx = _context(store, tmp_path, _cot_text(data), "evaluate", events)
        est = B.report_accuracy(ctx, [True, True, False, True], "acc", "the thing")
        metrics = runs.latest_metrics(store, ctx.run_id)
    low, high = wilson(3, 4)
    assert (est.mean, est.low, est.high, est.n) == (0.75, low, high, 4)
    assert metrics == {"acc": 0.75, "acc_ci_low": low, "acc_ci_high": high, "acc_n": 4.0}
    logs = [e.message for e in events if isinstance(e, ev.Log)]
    assert logs and logs[0].startswith("the thing: 3/4 = 0.750 (95% CI")


def test_accuracy_from_store_uses_sample_zero_and_pass_at_k(tmp_path, db_path, data):
    with Store(db_path) as store:
        ctx = _context(store, tmp_path, _cot_text(data), "evaluate", [])
        items = B.eval_items(ctx)
        # item 0: samples (fail, pass, pass); item 1: (pass, fail, fail); item 2: all fail
        outcomes = [[False, True, True], [True, False, False], [False, False, False]]
        for item, row in zip(items, outcomes, strict=True):
            for j, ok in enumerate(row):
                traces.add_evaluation(store, run_id=ctx.run_id, stage="evaluate",
                                      item_id=item.id, sample_index=j, passed=ok)
        est = B.accuracy_from_store(ctx)
        metrics = runs.latest_metrics(store, ctx.run_id)
    assert est.mean == pytest.approx(1 / 3)  # only sample 0 counts for accuracy
    # pass@2 per item: 1 - C(n-c,2)/C(3,2): item0 c=2 -> 1; item1 c=1 -> 2/3; item2 -> 0
    assert metrics["accuracy_pass@2"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert metrics["accuracy_pass@3"] == pytest.approx(2 / 3)
    assert "accuracy_pass@1" not in metrics


def test_trained_adapter_picks_the_newest_of_a_stage(tmp_path, db_path, data):
    with Store(db_path) as store:
        ctx = _context(store, tmp_path, _cot_text(data), "evaluate", [])
        assert B.trained_adapter(ctx) is None
        runs.add_artifact(store, ctx.run_id, "adapter", tmp_path / "a1", {"stage": "train"})
        runs.add_artifact(store, ctx.run_id, "adapter", tmp_path / "a2", {"stage": "dpo"})
        runs.add_artifact(store, ctx.run_id, "weights", tmp_path / "w.json", {"stage": "weight"})
        assert B.trained_adapter(ctx).name == "a2"
        assert B.trained_adapter(ctx, "train").name == "a1"
        assert B.trained_adapter(ctx, "hsft") is None


def _echo(request, sample):
    return f"answer to {request['messages'][-1]['content']}"


def test_ask_units_commits_each_answered_unit_in_batches(tmp_path, db_path, data, monkeypatch):
    monkeypatch.setenv("DISTILLAB_TEST_KEY", "sk-blocks")
    stored: list[tuple[str, list[str]]] = []
    with FakeServer() as server, Store(db_path) as store:
        server.responder = _echo
        ctx = _context(store, tmp_path, _cot_text(data, server.url), "solve", [])
        units = list(ctx.pending(["a", "b", "c", "d", "e"], key=lambda v: v))

        def store_fn(unit, results):
            with ctx.commit(unit):
                stored.append((unit.value, [B.teacher_text(r) for r in results]))

        sent = B.ask_units(ctx, units, lambda v: [Request(messages=[
            {"role": "user", "content": f"{v}{i}"}]) for i in range(2)], store_fn, batch=2)
        finished = runs.finished_units(store, ctx.run_id, "solve")
    assert sent == 10 and server.chat_requests == 10
    assert stored == [(v, [f"answer to {v}0", f"answer to {v}1"]) for v in "abcde"]
    assert finished == set("abcde")


def test_ask_units_on_budget_stop_stores_the_answered_units_then_stops(tmp_path, db_path, data,
                                                                       monkeypatch):
    monkeypatch.setenv("DISTILLAB_TEST_KEY", "sk-blocks")
    stored: list[str] = []
    with FakeServer() as server, Store(db_path) as store:
        server.responder = _echo
        # each call costs 14 words (prompt 5, answer 9): the cap is reached in the 2nd batch
        ctx = _context(store, tmp_path, _cot_text(data, server.url,
                                                  "  budget: {max_tokens: 50}\n"), "solve", [])
        units = list(ctx.pending([f"u{i}" for i in range(8)], key=lambda v: v))

        def store_fn(unit, results):
            with ctx.commit(unit):
                stored.append(unit.value)

        with pytest.raises(BudgetExhausted):
            B.ask_units(ctx, units, lambda v: [Request(messages=[
                {"role": "user", "content": f"please answer {v} right now"}])], store_fn, batch=3)
        finished = runs.finished_units(store, ctx.run_id, "solve")
        paid = store.one("SELECT COUNT(*) FROM teacher_calls WHERE run_id = ? AND error IS NULL",
                         (ctx.run_id,))[0]
    assert 0 < len(stored) < 8
    assert finished == set(stored)  # what was answered is committed, nothing else
    assert paid >= len(stored)


def test_sft_on_splits_refuses_to_train_on_nothing_with_the_callers_message(tmp_path, db_path,
                                                                            data):
    from engine.errors import DistillabError

    asked: list[str] = []
    with Store(db_path) as store:
        ctx = _context(store, tmp_path, _cot_text(data), "train", [])
        with pytest.raises(DistillabError, match="nothing here"):
            B.sft_on_splits(ctx, lambda split: asked.append(split) or [], what="rows",
                            empty=DistillabError("nothing here", "fix it"))
    assert asked == ["train"]  # the validation rows are not even read
