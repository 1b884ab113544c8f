"""The Playground page (pytest-qt): a run's trained student, base student and teacher answer
a picked question in the worker process (the tiny student, the scripted teacher over HTTP),
streamed into three columns, aligned step by step, then saved as a playground run."""

from __future__ import annotations

import os

import pytest

from engine import playground as pg
from engine.store import Store, traces

from .test_cot import server  # noqa: F401  (a fixture)
from .test_playground import trained_run

pytestmark = pytest.mark.slow


def test_playground_asks_three_models_in_a_worker_and_saves(qtbot, tmp_path, db_path,
                                                            server, models_home):  # noqa: F811
    from gui.playground_view import PlaygroundView

    run_id = trained_run(tmp_path, db_path, server.url, models_home)
    view = PlaygroundView(db_path)
    qtbot.addWidget(view)
    assert view.run.currentData() == run_id and "trained" in view.run.currentText()
    # pick a question from the run's data set
    index = next(i for i in range(view.item.count()) if "Q5:" in view.item.itemText(i))
    view.item.setCurrentIndex(index)
    view.item.activated.emit(index)
    assert view.question.toPlainText() == "Q5: What is 5 plus 7?"
    view.max_tokens.setValue(10)
    view.ask()
    # generation runs in a worker process (test_gui_modules_import_no_model_library: this
    # page's modules import no torch)
    assert view.job is not None and view.job.process.is_alive()
    assert view.job.process.pid != os.getpid()
    qtbot.waitUntil(lambda: view.job is None, timeout=120_000)
    assert view.status.text() == "3 of 3 answered."
    assert view.boxes[2].toPlainText().strip() == "Step 1: 5 + 7 = 12.\nThe answer is 12."
    for slot in (0, 1):
        # streamed pieces add up to the answer (a text box shows a lone \r as a line break)
        assert view.boxes[slot].toPlainText() == view.done[slot].text.replace("\r", "\n")
        assert 0 < view.done[slot].tokens <= 10 and "tokens" in view.heads[slot].text()
    # the aligned steps: one column per answer
    comp = view.steps.comparison
    assert comp is not None and [t.role for t in comp.traces] == \
        [r for r, t in zip(pg.MODELS, view.texts, strict=True) if t.strip()]
    assert view.save_button.isEnabled()
    with qtbot.waitSignal(view.saved) as saved:
        view.save_button.click()
    ids = saved.args[0]
    with Store(db_path) as store:
        stored = [traces.get_trace(store, i) for i in ids]
    assert [t.role for t in stored] == ["student", "base", "teacher"]
    assert all(t.item_id is not None and t.prompt == "Q5: What is 5 plus 7?" for t in stored)
    assert "Saved 3 answers" in view.status.text()


def test_playground_needs_a_question(qtbot, db_path):
    from gui.playground_view import PlaygroundView

    Store(db_path).close()
    view = PlaygroundView(db_path)
    qtbot.addWidget(view)
    view.ask()
    assert view.job is None and view.status.text().startswith("✗ Needs a run")
