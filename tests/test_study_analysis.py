"""Study analysis on hand-made runs in a real store: solve@k on per-item P_i, results per
round (`by`, ELAD's question), run-level metrics, correlations (REER's), the equal-budget
check (LEMA's), and the report's plot per round."""

from __future__ import annotations

import random

import pytest
import yaml

from engine.metrics import pass_at_k
from engine.store import Store, items, now, runs, studies, traces
from engine.studies import stats
from engine.studies.analysis import analyse, win_loss
from engine.studies.report import write_report

SPEC = {
    "schema_version": 1, "name": "hand-made", "base": "x.yaml", "seeds": [0, 1],
    "arms": [{"name": "random"}, {"name": "elad"}],
    "comparisons": [
        {"metric": "solve@2", "stage": "evaluate", "cost_axes": ["train_tokens"],
         "equal_budget": {"axis": "train_tokens", "tolerance": 0.1}},
        {"metric": "accuracy", "stage": "evaluate", "by": "round", "cost_axes": ["wall_s"]},
        {"metric": "metric:final_loss", "cost_axes": ["wall_s"]},
    ],
    "correlations": [{"name": "score-vs-judge",
                      "x": {"source": "traces", "stage": "evaluate", "field": "score"},
                      "y": {"source": "evaluations", "stage": "evaluate", "field": "score"}}],
}
ITEMS, SAMPLES, ROUNDS = 30, 4, 2


def _build(db) -> dict:
    """Two arms x two seeds; each item has 4 samples in each of 2 rounds. The elad arm
    passes more samples in round 1 only, and trains on 25% more tokens."""
    rng = random.Random(1)
    truth: dict = {}
    with Store(db) as store, store.transaction():
        rows = [("test", f"h{i}", {"question": f"q{i}"}) for i in range(ITEMS)]
        ds = items.save_dataset(store, name="d", source="d", content_hash="c", fields={},
                                splits={}, rows=rows)
        item_ids = [it.id for it in items.get_items(store, ds)]
        study = studies.create_study(store, name="hand-made", spec_yaml=yaml.safe_dump(SPEC),
                                     spec_path=None)
        position = 0
        for seed in (0, 1):
            for arm in ("random", "elad"):
                run = runs.create_run(store, name=f"{arm}{seed}", paradigm="smoke",
                                      recipe_yaml="x", seed=seed, stage_names=["evaluate"])
                runs.set_run(store, run.id, status="completed", finished_at=now())
                runs.set_stage(store, run.id, "evaluate", status="completed", seconds=2.0)
                studies.add_run(store, study, position, arm, seed, run.id)
                position += 1
                runs.add_metric(store, run.id, "final_loss", 1.0 - 0.1 * (arm == "elad")
                                + 0.01 * seed, stage="evaluate")
                runs.add_metric(store, run.id, "cost/train_tokens",
                                1000.0 * (1.25 if arm == "elad" else 1.0), stage="evaluate")
                for k, item in enumerate(item_ids):
                    for rnd in range(ROUNDS):
                        p = 0.4 + (0.3 if arm == "elad" and rnd == 1 else 0.0)
                        for j in range(SAMPLES):
                            passed = rng.random() < p
                            truth.setdefault((arm, seed, rnd, k), []).append(passed)
                            t = traces.add_trace(store, run_id=run.id, stage="evaluate",
                                                 role="student", item_id=item, output="x",
                                                 sample_index=rnd * SAMPLES + j,
                                                 score=float(k))
                            traces.add_evaluation(store, run_id=run.id, stage="evaluate",
                                                  item_id=item, trace_id=t, passed=passed,
                                                  sample_index=rnd * SAMPLES + j,
                                                  score=float(k) + rng.random(),
                                                  details={"round": rnd})
    return truth


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    db = tmp_path_factory.mktemp("a") / "p.db"
    truth = _build(db)
    with Store(db) as store:
        return db, truth, analyse(store, 1)


def test_solve_at_k_is_compared_on_per_item_p_i(analysed):
    _, truth, a = analysed
    solve = a.comparisons[0]
    assert solve.spec.metric == "solve@2" and solve.group is None
    # an item's P_i over all its 8 samples (both rounds), averaged per seed then over seeds
    for arm_result in solve.arms:
        per_seed = []
        for seed in (0, 1):
            p_i = []
            for k in range(ITEMS):
                samples = truth[(arm_result.arm, seed, 0, k)] + truth[(arm_result.arm, seed, 1, k)]
                p_i.append(pass_at_k(len(samples), sum(samples), 2))
            per_seed.append(sum(p_i) / len(p_i))
            assert arm_result.seed_means[seed] == pytest.approx(per_seed[-1])
        assert arm_result.estimate.mean == pytest.approx(sum(per_seed) / 2)
    (pair,) = solve.pairs
    assert pair.result.test == "sign-flip permutation"  # P_i are not pass/fail
    assert pair.result.diff.n == 2 * ITEMS and pair.significant
    # the equal-budget check flags elad: 25% more training tokens than the median allows
    budget = {b.arm: b for b in solve.budget}
    assert not budget["elad"].ok and budget["elad"].ratio == pytest.approx(1.25 / 1.125)


def test_by_round_gives_one_result_per_round(analysed):
    _, truth, a = analysed
    rounds = [c for c in a.comparisons if c.spec.by == "round"]
    assert [c.group for c in rounds] == ["0", "1"]
    first, second = rounds
    assert not first.pairs[0].significant and second.pairs[0].significant
    expected = sum(sum(truth[("elad", 1, 1, k)]) / SAMPLES for k in range(ITEMS)) / ITEMS
    assert second.arms[1].seed_means[1] == pytest.approx(expected)
    assert second.title == "accuracy (evaluate) · round 1"


def test_run_level_metric_uses_seeds_and_correlations_use_items(analysed):
    _, _, a = analysed
    loss = a.comparisons[-1]
    assert loss.spec.metric == "metric:final_loss"
    random_arm, elad = loss.arms
    assert random_arm.estimate.mean == pytest.approx(1.005) and elad.estimate.seeds == 2
    (pair,) = loss.pairs
    assert pair.result.test == "paired t over seeds" and pair.result.diff.mean == \
        pytest.approx(-0.1)
    corr = {c.arm: c.corr for c in a.correlations}
    # trace score = item index; evaluation score = index + noise in [0, 1): ranks agree
    assert corr["elad"].rho > 0.99 and corr["elad"].n == 2 * ITEMS  # items of both seeds
    assert 0.99 < corr["random"].low < corr["random"].high <= 1


def test_win_loss_rows_and_the_report_with_a_plot_per_round(analysed, tmp_path):
    db, _, a = analysed
    with Store(db) as store:
        second = next(c for c in a.comparisons if c.group == "1")
        rows = win_loss(store, a, second, "random", "elad")
    assert len(rows) == 2 * ITEMS and {r.seed for r in rows} == {0, 1}
    assert sum(r.outcome == "win" for r in rows) == second.pairs[0].result.wins
    assert rows[0].label == "q0" and rows[0].trace_a is not None
    path = write_report(db, a, "md", tmp_path / "out")
    text = path.read_text()
    assert "![accuracy (evaluate) by round](by-2.png)" in text and (tmp_path / "out" / "by-2.png").is_file()
    assert "| score-vs-judge | elad | spearman |" in text
    assert "| elad | 1250 | 1.11 | NO |" in text


def test_holm_marks_only_what_survives_the_correction():
    # three pairs at p 0.01, 0.02, 0.04: Holm gives 0.03, 0.04, 0.04
    assert stats.holm([0.01, 0.02, 0.04]) == pytest.approx([0.03, 0.04, 0.04])
