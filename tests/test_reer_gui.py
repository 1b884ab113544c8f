"""The REER search view: versions side by side with score-change bars, the accepted edit
highlighted, the score per iteration, and the copied runs marked in z* and y. The traces are
written as the search stage writes them (gui/sample_paradigms.py). The app's "Search" page
shows them, and says how to get a search when the project has none."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.paradigms.reer.history import search_history
from engine.store import Store
from gui.sample_paradigms import NEW, Y
from gui.sample_paradigms import add_reer_search as make_search

from .conftest import assert_empty_page, open_page

pytestmark = pytest.mark.gui

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


def test_search_page_shows_the_reer_run_picked_on_runs_or_says_how_to_get_one(
        qtbot, tmp_path, no_leaked_supervisors):
    from gui.reer_search import EDITED

    db = tmp_path / "p.db"
    empty = open_page(qtbot, db, "Search")  # a new project: no REER search yet
    assert empty.stack.currentWidget() is empty.search_view
    assert_empty_page(empty, "Search", "No REER run with a searched item", "distillab demo reer")
    assert empty.search_view.items.count() == 0 and empty.search_view.history is None
    empty.close()

    first, _ = make_search(db, name="first")
    second, _ = make_search(db, name="second")
    window = open_page(qtbot, db, "Search")  # Runs opens on the newest run: shown here too
    view = window.search_view
    assert view.run_id == second and view.pages.currentIndex() == 0
    assert view.run_box.currentText() == f"run {second} · second · 1 item searched"
    window.show_page("Runs")
    window.monitor_view.show_run(first)
    window.show_page("Search")
    assert view.run_id == first and view.items.count() == 1 and view.versions.count() == 2
    assert EDITED in view.versions.widget(1).toHtml().lower()
    assert "-0.600" in view.versions.widget(1).toHtml()
    assert "1 accepted edit(s) in 2 iteration(s)" in view.summary.text()
    assert list(view.plot.getPlotItem().listDataItems()[0].getData()[1]) == \
        pytest.approx([1.5, 1.5, 0.9])
    assert view.plot.getPlotItem().getAxis("left").labelText == "score"
    shots = Path(os.environ.get("DISTILLAB_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    image = window.grab()
    assert image.save(str(shots / "reer_search.png")) and image.width() == 1400
