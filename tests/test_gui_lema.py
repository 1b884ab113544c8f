"""LEMA's GUI page: the wrong path aligned with its correction (step k highlighted, the
explanation at that step), the corrections filtered by what became of them, ΔPPL before vs
after as a plot; screenshots under $DISTILLAB_SHOTS (default: the test's tmp folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.store import StepIn, Store, runs, traces

pytestmark = pytest.mark.gui

PATH = ("Step 1: 125 + 48 = 173.\nStep 2: 173 + 60 = 233.\nStep 3: 233 - 10 = 223.\n"
        "The answer is 223.")
KEPT = ("Incorrect Step: Step 2.\nExplanation: Ana gives the 60 stamps away, so they are "
        "subtracted.\nCorrect Solution:\n{\n...\nStep 2: 173 - 60 = 113.\n"
        "Step 3: 113 - 10 = 103.\nThe answer is 103.\n}")
WRONG_ANSWER = KEPT.replace("103", "104")


def _project(db: Path) -> int:
    with Store(db) as store:
        run = runs.create_run(store, name="lema-gui", paradigm="lema", recipe_yaml="x: 1",
                              seed=0, stage_names=["sample", "correct", "analyse"])
        ids = []
        for i in range(3):
            student = traces.add_trace(store, run_id=run.id, stage="sample", role="student",
                                       output=PATH, verdict="failed",
                                       steps=[StepIn(s) for s in PATH.splitlines()[:3]],
                                       parsed={"mistake": True})
            kept = i < 2
            ids.append(traces.add_trace(
                store, run_id=run.id, stage="correct", role="corrector", parent_id=student,
                output=KEPT if kept else WRONG_ANSWER, verdict="passed" if kept else "failed",
                flag=None if kept else "corrected answer 104 is not the gold 103",
                parsed={"step": 2, "drop": None if kept else "wrong answer"}))
        for i, fix in enumerate(ids[:2]):
            traces.add_trace(store, run_id=run.id, stage="analyse", role="delta-ppl",
                             parent_id=fix, output="x",
                             parsed={"delta_before": 0.5 + i, "delta_after": 1.5 + i,
                                     "wrong_before": 3.0, "right_before": 2.5,
                                     "wrong_after": 3.5, "right_after": 2.0})
    return run.id


def test_alignment_rows():
    from gui.lema_view import align_correction

    rows = align_correction(PATH, KEPT)
    assert [(r.number, r.verdict) for r in rows] == [(1, "correct"), (2, "wrong"), (3, ""),
                                                     (0, "")]
    assert rows[0].correction == "(unchanged)" and rows[1].correction == "173 - 60 = 113."
    assert rows[1].explanation.startswith("Ana gives") and not rows[2].explanation
    assert rows[2].student == "233 - 10 = 223." and rows[2].correction == "113 - 10 = 103."
    assert rows[3].student == "The answer is 223." and rows[3].correction == "The answer is 103."


def test_mistakes_page_aligns_filters_and_plots(qtbot, db_path, tmp_path):
    from gui.lema_view import RIGHT, WRONG, MistakesView

    _project(db_path)
    view = MistakesView(db_path)
    qtbot.addWidget(view)
    view.resize(1300, 850)
    view.show()
    assert view.run_box.count() == 1 and view.table.rowCount() == 3
    d = view.detail
    assert d.item(1, 0).text() == "173 + 60 = 233." and d.item(1, 0).background().color() == WRONG
    assert d.item(0, 0).background().color() == RIGHT
    assert d.item(1, 1).text().startswith("Explanation: Ana gives the 60 stamps away")
    assert d.item(1, 1).text().endswith("→ 173 - 60 = 113.")
    assert d.verticalHeaderItem(1).text() == "Step 2"
    view.filter_box.setCurrentText("dropped: wrong answer")
    assert view.table.rowCount() == 1 and "not the gold" in view.table.item(0, 4).text()
    view.filter_box.setCurrentText("dropped: no triplet")
    assert view.table.rowCount() == 0
    view.filter_box.setCurrentText("kept")
    assert view.table.rowCount() == 2
    points = [i for i in view.plot.getPlotItem().listDataItems()]
    assert len(points) == 2  # the diagonal and the items
    xs, ys = points[1].getData()
    assert list(xs) == [0.5, 1.5] and list(ys) == [1.5, 2.5]
    assert "2 above the diagonal" in view.summary.text()
    folder = Path(os.environ.get("DISTILLAB_SHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    image = view.grab()
    assert image.save(str(folder / "lema_mistakes.png")) and image.width() > 600
