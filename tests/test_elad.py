"""elad end to end on the lab: the scripted lab teacher over real HTTP, the tiny student,
real SQLite; a teacher budget that runs out mid-round, then resumed with a larger one; kill
-9 inside revise and inside train, then resumed.

The tiny random student writes no step chains, so explore is replaced by one that stores
lab chains (tests/elad_fixtures.py); score (the tiny student's cut-chain passes), select,
the teacher's checks and rewrites, SFT and evaluation run for real. After the resume the
run must hold every round's selection once, every selected item revised once, with the
student's steps judged by the teacher up to the first No, no teacher answer paid twice,
and the per-round costs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from engine import runner
from engine.store import Store, runs, traces
from engine.teacher.budget import raise_budget
from engine.validate import load_recipe

from .elad_fixtures import patch_explore, write_recipe
from .paradigm_fixtures import count, run_and_kill
from .tiny_model import ensure_tiny_model

pytestmark = [pytest.mark.slow, pytest.mark.integration]

CHILD = """
import sys
from tests.elad_fixtures import patch_explore
patch_explore()
from engine.cli import main
sys.exit(main(sys.argv[1:]))
"""

READY = {
    "revise": lambda db, files: count(db, "SELECT COUNT(*) FROM units WHERE stage = 'rounds' "
                                          "AND unit_key LIKE 'r2:revise:%'") >= 1,
    "train": lambda db, files: any(files.glob("run-1/train_r2/checkpoint-1/trainer_state.json")),
}


def _run_and_kill(recipe: Path, db_path: Path, stage: str, log: Path) -> None:
    run_and_kill(["-c", CHILD, "run", str(recipe), "--db", str(db_path)], db_path,
                 READY[stage], log, deadline_s=300)


def _check_run(store: Store, rounds: int, budget: int, twice_at_most: int = 2) -> None:
    every = traces.page_traces(store, run_id=1, stage="rounds", limit=10_000)
    by_round = Counter(((t.parsed or {}).get("round"), t.role) for t in every)
    revised = [t for t in every if t.role == "revised"]
    for r in range(1, rounds + 1):
        assert by_round[(r, "selection")] == 1
        assert by_round[(r, "revised")] == budget
    assert len({t.item_id for t in revised}) == len(revised)  # no item revised twice
    kinds = Counter((t.parsed or {})["kind"] for t in revised)
    assert kinds["revised"] >= 2, kinds
    for t in revised:
        student = traces.get_trace(store, t.parent_id)
        assert student.role == "explore" and student.item_id == t.item_id
        judged = [s.verdict for s in student.steps if s.kind == "step"]
        first_no = (t.parsed or {})["first_no"]
        if first_no:
            assert judged[:first_no] == ["correct"] * (first_no - 1) + ["wrong"]
            assert all(v == "unknown" for v in judged[first_no:])
            assert t.output.splitlines()[:first_no - 1] == student.output.splitlines()[:first_no - 1]
    # the lab teacher is deterministic and cached: nothing answered twice (at most what was
    # on the wire when the process died)
    twice = store.query("SELECT cache_key FROM teacher_calls WHERE run_id = 1 AND error IS NULL "
                        "GROUP BY cache_key HAVING COUNT(*) > 1")
    assert len(twice) <= twice_at_most
    metrics = {(r["name"], r["step"]) for r in store.query(
        "SELECT name, step FROM metrics WHERE run_id = 1 AND stage = 'rounds'")}
    for r in range(1, rounds + 1):
        for name in ("accuracy", "accuracy_ci_low", "teacher_tokens_yes",
                     "teacher_tokens_rewrite", "student_tokens_score", "compute_tokens_total",
                     "train_rows"):
            assert (name, r) in metrics, (name, r)
    yes = store.query("SELECT step, value FROM metrics WHERE run_id = 1 AND name = "
                      "'teacher_tokens_yes' ORDER BY step")
    assert all(v > 0 for _, v in yes)
    evals = traces.evaluations(store, 1, "rounds")
    assert {e["details"]["round"] for e in evals} == set(range(1, rounds + 1))


@pytest.mark.parametrize("stage", ["revise", "train"])
def test_kill_9_then_resume_pays_nothing_twice(stage, tmp_path, db_path, models_home,
                                               monkeypatch):
    tiny = ensure_tiny_model(models_home)
    recipe = write_recipe(tmp_path, tiny, latency_s=0.3 if stage == "revise" else 0.0)
    _run_and_kill(recipe, db_path, stage, tmp_path / "run.log")
    patch_explore(monkeypatch)
    status = runner.resume(1, db_path)
    with Store(db_path) as store:
        assert status == "completed", runs.get_run(store, 1).error
        _check_run(store, rounds=2, budget=3)
        if stage == "train":
            import json

            files = db_path.parent / f"{db_path.stem}-files" / "run-1"
            result = json.loads((files / "train_r2" / "train_result.json").read_text())
            assert result["resumed_from"] >= 1  # went on from the checkpoint


def test_budget_runs_out_mid_round_then_resumes(tmp_path, db_path, models_home, monkeypatch):
    tiny = ensure_tiny_model(models_home)
    # ~230 tokens a Yes/No call: the cap stops the run inside round 1's checks
    recipe = write_recipe(tmp_path, tiny, verify="all",
                          extra=", budget: {max_tokens: 900}")
    patch_explore(monkeypatch)
    assert runner.run_recipe(load_recipe(recipe), db_path) == (1, "stopped")
    with Store(db_path) as store:
        done = [k for k in runs.finished_units(store, 1, "rounds") if k.startswith("r1:revise:")]
        assert 0 < len(done) < 3
        assert runs.get_run(store, 1).status == "stopped"
        raise_budget(store, 1, max_tokens=10**7)
    assert runner.resume(1, db_path) == "completed"
    with Store(db_path) as store:
        # no process died: not one call answered twice (the ones before the stop were
        # served from the cache when the resumed round asked them again)
        _check_run(store, rounds=2, budget=3, twice_at_most=0)
