"""solve@k, the M x T grid and the curves, computed from stored results."""

from __future__ import annotations

import pytest

from engine.paradigms.explain.report import grid_and_curves
from engine.store import Store, runs, traces


def test_grid_and_curves_from_the_store(db_path):
    with Store(db_path) as store:
        run_id = runs.create_run(store, name="r", paradigm="explain", recipe_yaml="x", seed=0,
                                 stage_names=["evaluate"]).id
        # 2 items, 5 plans x 2 codes; item 1 passes only with plan 3, item 2 never
        ds = store.insert("datasets", {"content_hash": "h"})
        for item in (1, 2):
            store.insert("items", {"dataset_id": ds, "idx": item, "split": "test",
                                   "item_hash": str(item), "data": {}})
        for item, good_plan in ((1, 3), (2, None)):
            for pi in range(5):
                for ci in range(2):
                    tid = traces.add_trace(store, run_id=run_id, stage="code", role="coder",
                                           item_id=item, output="",
                                           parsed={"plan_index": pi, "code_index": ci})
                    traces.add_evaluation(store, run_id=run_id, stage="evaluate", item_id=item,
                                          trace_id=tid, passed=pi == good_plan)
        store.insert("teacher_calls", {"cache_key": "k", "run_id": run_id, "stage": "code",
                                       "tokens_in": 100, "tokens_out": 50, "cost_usd": 0.01})
        summary = grid_and_curves(store, run_id, [1, 2], [1, 5, 10], budget=10)
    m = {name if step is None else f"{name}@{step}": v for name, v, step in summary.metrics}
    assert m["solve@1"] == pytest.approx((0.2 + 0.0) / 2)
    assert m["solve@10"] == pytest.approx(0.5)
    assert m["curve/solve_vs_samples@10"] == pytest.approx(0.5)
    assert m["grid/5x2/solve@10"] == pytest.approx(0.5)
    assert "grid/10x1/solve@1" not in m  # only 5 plans exist
    assert "grid/2x5/solve@1" not in m and "grid/1x10/solve@1" not in m  # 2 codes per plan
    assert m["teacher_tokens"] == 150 and m["teacher_usd"] == pytest.approx(0.01)
    assert "solve@1 = 0.100" in summary.text
