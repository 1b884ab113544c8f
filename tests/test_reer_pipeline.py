"""The whole `reer` pipeline on the lab's `why` family with the tiny student: baseline and
REER training, the leakage filter (and the leakiest share kept out of training), the lab
teacher judging the trained student against the no-thinking one in both orders, and the
table of PPL drop vs judge score, all read back from the store."""

from __future__ import annotations

import pytest

from engine.store import Store, runs, traces

from .test_reer_search import _run, recipe_text
from .tiny_model import ensure_tiny_model

pytestmark = [pytest.mark.slow, pytest.mark.integration]


def test_reer_end_to_end_with_a_judged_win_rate_and_the_correlation_table(tmp_path, models_home):
    tiny = ensure_tiny_model(models_home)
    text = recipe_text(tiny).replace("  evaluate: {correlation_items: 4}\n",
                                     "  evaluate: {correlation_items: 4}\n"
                                     "  filter: {drop_leakiest: 0.5}\n")
    run_id = _run(tmp_path / "p.db", text, tmp_path)
    with Store(tmp_path / "p.db") as store:
        metrics = runs.latest_metrics(store, run_id)
        kinds = {a["meta"]["stage"] for a in runs.artifacts(store, run_id)
                 if a["kind"] == "adapter"}
        evals = traces.evaluations(store, run_id, "evaluate")
        roles = dict(store.query("SELECT role, COUNT(*) FROM traces WHERE run_id = ? "
                                 "GROUP BY role", (run_id,)))
        filtered = store.query("SELECT verdict, COUNT(*) FROM traces WHERE run_id = ? AND "
                               "role = 'filter' GROUP BY verdict", (run_id,))
    assert kinds == {"baseline", "train"}  # two students: no thinking, and REER
    n_test = roles["student"]
    assert roles["student-nothink"] == n_test and roles["judge-pair"] == n_test
    assert len(evals) == n_test and all(1 <= e["score"] <= 10 for e in evals)
    assert 0 <= metrics["winrate_vs_nothink"] <= 1
    assert metrics["winrate_vs_nothink_ci_low"] <= metrics["winrate_vs_nothink"] \
        <= metrics["winrate_vs_nothink_ci_high"]
    assert roles["judge-train"] == roles["student-train"] == 4
    assert dict(filtered) == {"kept": roles["z-star"]}
    for name in ("leak/ngram_8_median", "leak/rouge_l_median", "leak/copied_words_q3",
                 "search/teacher_calls_mean", "search/score_tokens_mean", "cost/train_tokens"):
        assert name in metrics, name
    # drop_leakiest 0.5: half of the kept thinking is kept out of training
    assert metrics["leak/trained_rouge_l_median"] <= metrics["leak/rouge_l_median"]
