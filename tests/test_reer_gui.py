"""The REER search view: versions side by side with score-change bars, the accepted edit
highlighted, the score per iteration, and the copied runs marked in z* and y. The traces are
written as the search stage writes them (engine/paradigms/reer/search.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.paradigms.reer.history import search_history
from engine.store import StepIn, Store, items, runs, traces

pytestmark = pytest.mark.gui

SEGS = ["Alright, the user wants to know why the total is 9. " * 2,
        "Hmm, I will mention the first change somewhere without going into it. " * 2,
        "---\nOutline: start, change, total. " * 3]
NEW = "Wait, the first change means 4 + 5 = 9, so the total is 9 apples. I will say so."
Y = "There are 4 apples at the start.\n\nThen 5 more come in: 4 + 5 = 9, so the total is 9 apples."


def make_search(db: Path) -> tuple[int, int]:
    """A run with one item searched: z0, a rejected then an accepted edit of segment 2."""
    with Store(db) as store:
        ds = items.save_dataset(store, name="why", source="test", content_hash="h", fields={},
                                splits={}, rows=[("train", "i1", {"query": "q", "reference": Y})])
        item_id = items.get_items(store, ds)[0].id
        run = runs.create_run(store, name="reer-gui", paradigm="reer", recipe_yaml="x: 1",
                              seed=0, stage_names=["draft", "search"])
        add = traces.add_trace
        add(store, run_id=run.id, stage="draft", role="draft", item_id=item_id,
            output="<think>...</think>", parsed={"segments": SEGS})
        z0 = add(store, run_id=run.id, stage="search", role="z0", item_id=item_id,
                 output="\n\n".join(SEGS), score=1.50)
        for step, news, scores, take in ((0, [SEGS[0], SEGS[0]], [1.6, 1.7], None),
                                         (1, [NEW, SEGS[1]], [0.9, 1.55], 0)):
            for j, (new, s) in enumerate(zip(news, scores, strict=True)):
                add(store, run_id=run.id, stage="search", role="candidate", item_id=item_id,
                    parent_id=z0, output="z", score=s, sample_index=j,
                    parsed={"segment": step, "new_segment": new, "accepted": take == j})
        segs = [SEGS[0], NEW, SEGS[2]]
        add(store, run_id=run.id, stage="search", role="z-star", item_id=item_id,
            output="\n\n".join(segs), score=0.6, steps=[StepIn(s) for s in segs])
    return run.id, item_id


def test_history_reads_versions_iterations_and_leaks(tmp_path):
    run_id, item_id = make_search(tmp_path / "p.db")
    with Store(tmp_path / "p.db") as store:
        h = search_history(store, run_id, item_id)
    assert h is not None
    assert [v.label for v in h.versions] == ["z0", "edit 1 (segment 2)"]
    assert h.versions[1].edited == 1 and h.versions[1].segments[1] == NEW
    assert h.versions[1].deltas == pytest.approx([0.0, -0.6, 0.0])
    assert [(i.segment, i.best, i.accepted) for i in h.iterations] == [(0, 1.5, False),
                                                                       (1, 0.9, True)]
    assert h.iterations[0].candidates == [1.6, 1.7]
    assert h.spans and h.z_star[h.spans[0].z_start:h.spans[0].z_end].lower() == \
        Y[h.spans[0].y_start:h.spans[0].y_end].lower()


def test_search_view_shows_versions_bars_plot_and_copied_runs(qtbot, tmp_path):
    from gui.reer_search import COPIED, EDITED, ReerSearchView

    run_id, _ = make_search(tmp_path / "p.db")
    view = ReerSearchView(tmp_path / "p.db", run_id)
    qtbot.addWidget(view)
    view.resize(1300, 900)
    view.show()
    assert view.items.count() == 1 and view.versions.count() == 2
    z0_html = view.versions.widget(0).toHtml()
    edit_html = view.versions.widget(1).toHtml()
    assert "no change" in z0_html and EDITED not in z0_html.lower()
    assert "-0.600" in edit_html and EDITED in edit_html.lower()  # the bar and the highlight
    assert "4 + 5 = 9" in view.versions.widget(1).toPlainText()
    curves = view.plot.getPlotItem().listDataItems()
    assert len(curves) == 2  # the best score line and the candidate dots
    assert list(curves[0].getData()[1]) == pytest.approx([1.5, 1.5, 0.9])
    assert COPIED in view.z_text.toHtml().lower() and COPIED in view.y_text.toHtml().lower()
    assert "1 accepted edit(s) in 2 iteration(s)" in view.summary.text()
    shots = os.environ.get("DISTILLAB_SHOTS")
    if shots:  # screenshots for a person to look at
        Path(shots).mkdir(parents=True, exist_ok=True)
        view.grab().save(str(Path(shots) / "reer_search.png"))
