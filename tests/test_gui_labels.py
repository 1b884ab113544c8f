"""Traces view, labelling and querying as a person does it: keys 1/2/3 on a selected step
store a label under the Settings name (the teacher's verdict kept, disagreements shown),
labels survive reopening, F9 walks the label queue, the disagreement filter and the count,
Export labels, and the query bar (errors at their position, injection as text, slices)."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from engine.store import Store
from gui.settings import app_settings
from gui.traces_view import TracesView
from tests.label_fixtures import make_project

pytestmark = [pytest.mark.gui]


@pytest.fixture
def view(qtbot, tmp_path):
    app_settings().setValue("label_author", "ann")
    db = tmp_path / "p.db"
    ids = make_project(db)
    v = TracesView(db)
    qtbot.addWidget(v)
    v.resize(1300, 850)
    v.show()
    return v, ids, db


def _labels(db):
    with Store(db, readonly=True) as store:
        return [tuple(r) for r in store.query(
            "SELECT l.trace_id, s.idx, l.label, l.author, l.note, s.verdict FROM step_labels l "
            "JOIN steps s ON s.id = l.step_id ORDER BY l.trace_id, s.idx")]


def test_keys_label_the_selected_step_under_the_settings_name(view, qtbot, tmp_path):
    v, ids, db = view
    assert v.next_to_label() == ids["student"]  # F9's queue: the first wrong-answer trace
    assert v.compared[0] == ids["student"] and v.steps.selected == (0, 0)
    qtbot.keyClick(v.steps, Qt.Key.Key_1)  # step 1 correct; the selection moves on
    assert v.steps.selected[1] == 0 and v.steps.selected_cell().index == 1
    v.label_bar.note.setText("7 - 2 = 5 follows")
    qtbot.keyClick(v.steps, Qt.Key.Key_1)  # step 2 correct, where the teacher said wrong
    qtbot.keyClick(v.steps, Qt.Key.Key_3)  # step 3 unsure
    assert _labels(db) == [(ids["student"], 0, "correct", "human:ann", None, "correct"),
                           (ids["student"], 1, "correct", "human:ann", "7 - 2 = 5 follows",
                            "wrong"),
                           (ids["student"], 2, "unsure", "human:ann", None, "wrong")]
    assert v.label_bar.note.text() == ""
    shown = v.steps.toPlainText()
    assert "[✓ ann]" in shown and "[? ann]" in shown and "disagrees with the teacher" in shown
    assert "3 steps labelled in 1 traces" in v.label_bar.count.text()
    assert "1 disagree with the teacher" in v.label_bar.count.text()
    v.steps.select(1, 0)
    assert "teacher's verdict: <b>wrong</b>" in v.label_bar.info.text()
    assert "label: <b>correct</b> by ann" in v.label_bar.info.text()
    v.close()
    again = TracesView(db)  # labels survive reopening the project
    qtbot.addWidget(again)
    again.show_item(ids["item"], ids["student"])
    assert "disagrees with the teacher" in again.steps.toPlainText()
    again.disagree_box.setCurrentIndex(1)  # human ≠ teacher
    assert [r.id for r in again.model.rows] == [ids["student"]]
    again.disagree_box.setCurrentIndex(2)
    assert ids["student"] not in [r.id for r in again.model.rows]


def test_queue_arrow_keys_buttons_and_export(view, qtbot):
    v, ids, db = view
    qtbot.keyClick(v, Qt.Key.Key_F9)
    assert v.compared[0] == ids["student"]
    qtbot.keyClick(v.steps, Qt.Key.Key_Down)
    v.label_bar.correction.setText("3 * 4 = 12, and 12 - 2 = 10 are left.")
    v.label_bar.buttons["wrong"].click()
    v.next_to_label()
    assert v.compared[0] == ids["student2"]
    v.steps.setFocus()
    qtbot.keyClick(v.steps, Qt.Key.Key_2)
    assert v.next_to_label() is None
    assert "Nothing left to label" in v.label_bar.info.text()
    v.export()
    assert "Pick a run" in v.label_bar.count.text()
    v.run_box.setCurrentIndex(v.run_box.findData(ids["run"]))
    v.export()
    # PRM: only student2's chain (the student's first step has no label, so PRM800K-style
    # ratings stop before it); DPO: the typed correction of the student's step 2
    assert "Exported 1 prm, 1 dpo, 0 sft rows" in v.label_bar.count.text()
    assert "1 skipped: dpo: no typed correction" in v.label_bar.count.text()
    dpo = db.parent / f"run-{ids['run']}-labels-dpo.jsonl"
    (pair,) = [json.loads(line) for line in dpo.read_text().splitlines()]
    assert pair["chosen"] == "3 * 4 = 12, and 12 - 2 = 10 are left."
    assert pair["rejected"].startswith("He eats 2, so 7 - 2")


def test_query_bar_errors_injection_and_slices(view, qtbot):
    v, ids, db = view
    bar = v.query_bar
    bar.edit.setText("verdict = wrong and steps > 2")
    qtbot.keyClick(bar.edit, Qt.Key.Key_Return)
    assert [r.id for r in v.model.rows] == [ids["student"]]
    bar.edit.setText("verdict = wrong and steps > many")
    qtbot.keyClick(bar.edit, Qt.Key.Key_Return)
    assert bar.error.isVisible()
    line, caret = bar.error.text().replace("\u00a0", " ").splitlines()
    assert line == "verdict = wrong and steps > many"
    assert caret.index("^") == line.index("many") and "integer" in caret
    assert bar.edit.cursorPosition() == line.index("many")
    assert [r.id for r in v.model.rows] == [ids["student"]]  # the table kept its rows
    bar.edit.setText("text ~ \"'; DROP TABLE traces; --\"")
    qtbot.keyClick(bar.edit, Qt.Key.Key_Return)
    assert not bar.error.isVisible() and v.model.rows == []
    bar.edit.setText("role = student")
    assert bar.save_slice("students")
    assert not bar.save_slice(" ")
    assert "needs a name" in bar.error.text().replace("\u00a0", " ")
    bar.edit.clear()  # clearing the bar shows every trace again
    assert len(v.model.rows) == 4
    index = bar.slice_box.findText("students")
    assert index > 0
    bar.slice_box.activated.emit(index)
    assert bar.edit.text() == "role = student" and len(v.model.rows) == 3
    with Store(db, readonly=True) as store:
        assert store.one("SELECT query FROM slices WHERE name = 'students'")[0] == "role = student"
        assert store.one("SELECT COUNT(*) FROM traces")[0] == 4


def test_settings_name_is_the_label_author(qtbot, tmp_path):
    import getpass

    from gui.settings import SettingsView, label_author

    assert label_author() == getpass.getuser()  # nothing saved: the login name
    view = SettingsView()
    qtbot.addWidget(view)
    view.author.setText("  Grace Hopper ")
    view.author.editingFinished.emit()
    assert label_author() == "Grace Hopper"
    db = tmp_path / "p.db"
    ids = make_project(db)
    traces = TracesView(db)
    qtbot.addWidget(traces)
    traces.next_to_label()
    traces.label_selected("wrong")
    assert _labels(db)[0][2:4] == ("wrong", "human:Grace Hopper")
    assert ids["student"] == _labels(db)[0][0]
