"""The ELAD view: a round picker, the student's chain beside the teacher's revision with
Yes/No badges, the first No highlighted and the correct prefix once, intra bars, and the
score histogram with the selected items marked. The run is written as the rounds stage
writes it (two rounds; engine/paradigms/elad/stages.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.paradigms.elad.history import (
    accuracy_curve,
    revisions,
    round_numbers,
    round_summary,
)
from engine.store import StepIn, Store, items, runs, traces

pytestmark = pytest.mark.gui

CHAIN = ["Step 1: 3 + 4 = 7.", "Step 2: 7 * 2 = 15.", "Step 3: 15 - 1 = 14."]
FIXED = ["Step 1: 3 + 4 = 7.", "Step 2: 7 * 2 = 14.", "Step 3: 14 - 1 = 13."]


def make_run(db: Path) -> int:
    with Store(db) as store:
        ds = items.save_dataset(store, name="lab", source="test", content_hash="h", fields={},
                                splits={}, rows=[("train", f"i{i}", {"question": f"q{i}",
                                                                      "answer": "13"})
                                                 for i in range(4)])
        ids = [it.id for it in items.get_items(store, ds)]
        run = runs.create_run(store, name="elad-gui", paradigm="elad", recipe_yaml="x: 1",
                              seed=0, stage_names=["baseline", "rounds"])
        add = traces.add_trace
        for r in (1, 2):
            scores = {str(i): 0.2 * k + 0.1 * r for k, i in enumerate(ids)}
            add(store, run_id=run.id, stage="rounds", role="selection", output="sel",
                parsed={"round": r, "method": "elad", "selected": ids[-2:], "scores": scores})
            for item_id, first_no in ((ids[-1], 2), (ids[-2], None)):
                text = "\n".join([*CHAIN, "The answer is 14."])
                student = add(store, run_id=run.id, stage="rounds", role="explore",
                              item_id=item_id, output=text, parsed={"round": r},
                              steps=[StepIn(c) for c in CHAIN])
                judged = traces.get_trace(store, student).steps
                for k, step in enumerate(judged, start=1):
                    if first_no is None or k <= first_no:
                        traces.set_step_verdict(store, step.id, "wrong" if k == first_no
                                                else "correct", "teacher")
                add(store, run_id=run.id, stage="rounds", role="score", item_id=item_id,
                    output=text, parent_id=student, parsed={"round": r},
                    steps=[StepIn(c, metrics={"agreed": k != 2}) for k, c in
                           enumerate(CHAIN, start=1)])
                out = FIXED if first_no else CHAIN
                add(store, run_id=run.id, stage="rounds", role="revised", item_id=item_id,
                    output="\n".join([*out, "The answer is 13."]), parent_id=student,
                    parsed={"round": r, "kind": "revised" if first_no else "accepted",
                            "first_no": first_no, "kept_steps": (first_no or 4) - 1},
                    steps=[StepIn(c) for c in out])
            for name, value in (("accuracy", 0.3 * r), ("accuracy_ci_low", 0.1),
                                ("accuracy_ci_high", 0.5), ("teacher_tokens_yes", 500.0 * r),
                                ("teacher_tokens_rewrite", 300.0),
                                ("teacher_tokens_total", 800.0 + 500 * (r - 1))):
                runs.add_metric(store, run.id, name, value, step=r, stage="rounds")
        runs.add_metric(store, run.id, "accuracy_base", 0.05, stage="baseline")
    return run.id


def test_history_aligns_steps_with_verdicts_prefix_and_intra(tmp_path):
    run_id = make_run(tmp_path / "p.db")
    with Store(tmp_path / "p.db") as store:
        assert round_numbers(store, run_id) == [1, 2]
        curve = accuracy_curve(store, run_id)
        s = round_summary(store, run_id, 2)
        revs = revisions(store, run_id, 2)
    assert s is not None and s.metrics["accuracy"] == pytest.approx(0.6) and len(s.selected) == 2
    fixed, accepted = revs
    assert fixed.first_no == 2 and [r.verdict for r in fixed.rows] == ["correct", "wrong",
                                                                       "unjudged"]
    assert [r.kept for r in fixed.rows] == [True, False, False]
    assert [r.changed_answer for r in fixed.rows] == [False, True, False]
    assert fixed.rows[1].revised == FIXED[1] and fixed.revised_answer == "The answer is 13."
    assert accepted.kind == "accepted" and all(r.kept for r in accepted.rows)
    assert [(p.round, p.accuracy) for p in curve] == [(0, 0.05), (1, pytest.approx(0.3)),
                                                      (2, pytest.approx(0.6))]
    assert curve[2].teacher_tokens == 1300.0 and curve[1].low == 0.1


def test_elad_view_shows_rounds_badges_and_histogram(qtbot, tmp_path):
    from gui.elad_view import FIRST_NO, KEPT, EladView

    run_id = make_run(tmp_path / "p.db")
    view = EladView(tmp_path / "p.db", run_id)
    qtbot.addWidget(view)
    view.resize(1200, 850)
    view.show()
    assert view.rounds.count() == 2 and view.items.count() == 2
    shown = view.chain.toHtml().lower()
    assert FIRST_NO in shown and KEPT in shown and ">no<" in shown and ">yes<" in shown
    text = view.chain.toPlainText()
    assert text.count("3 + 4 = 7") == 1  # the correct prefix once, not in both columns
    assert "7 * 2 = 15" in text and "7 * 2 = 14" in text
    assert "accuracy 0.300" in view.summary.text() and "500 Yes/No" in view.summary.text()
    view.rounds.setCurrentIndex(1)
    assert "accuracy 0.600" in view.summary.text()
    bars, marks = view.plot.getPlotItem().items[0], view.plot.getPlotItem().listDataItems()
    assert sum(bars.opts["height"]) == 4
    assert list(marks[-1].getData()[0]) == pytest.approx([0.6, 0.8])  # the two selected
    curve = view.curve.getPlotItem().listDataItems()[0]
    assert list(curve.getData()[1]) == pytest.approx([0.05, 0.3, 0.6])
    view.axis.setCurrentIndex(1)  # against teacher tokens
    curve = view.curve.getPlotItem().listDataItems()[0]
    assert list(curve.getData()[0]) == pytest.approx([0.0, 800.0, 1300.0])
    view.items.setCurrentIndex(1)
    assert FIRST_NO not in view.chain.toHtml().lower()  # accepted: no No
    shots = os.environ.get("DISTILLAB_SHOTS")
    if shots:
        Path(shots).mkdir(parents=True, exist_ok=True)
        view.items.setCurrentIndex(0)
        view.grab().save(str(Path(shots) / "elad_view.png"))
