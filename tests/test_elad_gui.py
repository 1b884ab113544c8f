"""The ELAD view: a round picker, the student's chain beside the teacher's revision with
Yes/No badges, the first No highlighted and the correct prefix once, intra bars, and the
score histogram with the selected items marked. The run is written as the rounds stage
writes it (two rounds; gui/sample_paradigms.py). The app's "Rounds" page shows it, the run
picked on Runs first, and says how to get one when the project has none."""

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
from engine.store import Store, runs
from gui.sample_paradigms import FIXED
from gui.sample_paradigms import add_elad_run as make_run

from .conftest import assert_empty_page, open_page

pytestmark = pytest.mark.gui

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
    assert curve[2].teacher_tokens == 1300.0 and curve[1].low == pytest.approx(0.1)


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


def test_rounds_page_shows_the_elad_run_picked_on_runs_or_says_how_to_get_one(
        qtbot, tmp_path, no_leaked_supervisors):
    db = tmp_path / "p.db"
    empty = open_page(qtbot, db, "Rounds")  # a new project: no ELAD run yet
    assert empty.stack.currentWidget() is empty.rounds_view
    assert_empty_page(empty, "Rounds", "No ELAD run with a finished round", "distillab demo elad")
    assert empty.rounds_view.run_box.placeholderText().startswith("No ELAD run")
    empty.close()

    first, second = make_run(db, name="first"), make_run(db, name="second")
    with Store(db) as store:
        other = runs.create_run(store, name="not-elad", paradigm="cot", recipe_yaml="x: 1",
                                seed=0, stage_names=["teacher"]).id
    window = open_page(qtbot, db, "Runs")
    view = window.rounds_view
    window.monitor_view.show_run(first)  # picked on Runs: the Rounds page opens on it
    window.show_page("Rounds")
    assert [view.run_box.itemData(i) for i in range(view.run_box.count())] == [second, first]
    assert view.run_box.currentText() == f"run {first} · first · 2 rounds"
    assert view.run_id == first and view.pages.currentIndex() == 0
    assert view.rounds.count() == 2 and view.items.count() == 2
    text = view.chain.toPlainText()
    assert "7 * 2 = 15" in text and "7 * 2 = 14" in text and text.count("3 + 4 = 7") == 1
    assert "accuracy 0.300 (95% CI 0.100-0.500)" in view.summary.text()
    window.show_page("Runs")
    window.monitor_view.show_run(other)  # not an ELAD run: the page keeps its own
    window.show_page("Rounds")
    assert view.run_id == first
    view.run_box.setCurrentIndex(0)  # the picker itself
    assert view.run_id == second and view.rounds.count() == 2
    assert view.rounds.currentText() == "round 1" and view.items.count() == 2
    window.show_page("Runs")
    third = make_run(db, name="third")  # a run that ends while the window is open
    window.monitor_view.refresh()
    window.monitor_view.show_run(third)
    window.show_page("Rounds")
    assert view.run_box.count() == 3 and view.run_id == third
    window.show_page("Runs")
    window.show_page("Rounds")  # Runs still has the third picked
    assert view.run_id == third
    shots = Path(os.environ.get("DISTILLAB_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    image = window.grab()
    assert image.save(str(shots / "elad_rounds.png")) and image.width() == 1400
