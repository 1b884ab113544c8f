"""`distillab demo` (no paradigm): the lab demo end to end at a tiny size, through the real CLI,
the real lab teacher over HTTP and the real embedded student; it prints both accuracies with
their intervals and the teacher cost, and ends with the lift read from the store."""

from __future__ import annotations

import pytest

from engine.cli import main
from engine.store import Store, runs

pytestmark = [pytest.mark.slow, pytest.mark.integration]

TINY = ["dataset.lab.n=40", "evaluation.limit=4", "evaluation.max_new_tokens=12",
        "training.max_steps=1", "training.batch_size=2", "stages.evaluate.batch_size=4"]


def test_the_default_demo_measures_before_and_after_and_ends_with_the_lift(db_path, capsys,
                                                                            monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    args = ["demo", "--db", str(db_path)]
    for value in TINY:
        args += ["--set", value]
    assert main(args) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines[-1].startswith("lab_lift: ")
    with Store(db_path) as store:
        run = runs.list_runs(store)[0]
        metrics = runs.latest_metrics(store, run.id)
        paid = store.one("SELECT COUNT(*) FROM teacher_calls WHERE run_id = ?", (run.id,))[0]
    assert run.paradigm == "cot" and run.status == "completed"
    assert float(lines[-1].split(":")[1]) == pytest.approx(metrics["lift_points"], abs=0.05)
    assert metrics["lift_points"] == pytest.approx(
        100 * (metrics["accuracy"] - metrics["accuracy_base"]))
    assert paid == 28  # every training question went to the lab teacher once (70% of 40)
    assert "accuracy" in out and "95% CI" in out and "distillab gui --db" in out
