"""SuperCorrect's GUI: template blocks fold, the pair's shared prefix is shown once next to
step k from each side, the pairs table browses and jumps to the source traces; screenshots
under $DISTILLAB_SHOTS (default: the test's tmp folder)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtWidgets import QLabel

from engine.paradigms.supercorrect import formats as F
from engine.store import StepIn, Store, runs, traces

pytestmark = pytest.mark.gui

SOLUTION = ("<Step1>\nStart with 12 pens. 7 more come in, so add: 12 + 7 = 19.\n</Step1>\n"
            "<Step2>\nThe pens become 3 times as many: 19 + 3 = 22.\n"
            "<Key>Multiply place by place: 10 + 9, each times 3.</Key>\n</Step2>\n"
            "<Step3>\n9 go out: 22 - 9 = 13.\n</Step3>\n"
            "<Generalized>Keep one running total.</Generalized>\n<Answer>13</Answer>")
CHOSEN = F.correction_block(2, "It adds 3 instead of multiplying by 3.", "19 * 3 = 57.")
REJECTED = F.correction_block(2, "The pens were counted twice.", "19 + 3 = 23.")


def _project(db: Path) -> dict[str, int]:
    with Store(db) as store:
        run = runs.create_run(store, name="sc-gui", paradigm="supercorrect", recipe_yaml="x: 1",
                              seed=0, stage_names=["solve", "correct", "pairs"])
        student = traces.add_trace(
            store, run_id=run.id, stage="solve", role="student", output=SOLUTION,
            prompt="Solve it.\nQuestion: Ada has 12 pens...", verdict="failed",
            steps=[StepIn(p.text, kind=p.kind) for p in F.parse_template(SOLUTION).pieces()])
        teacher = traces.add_trace(store, run_id=run.id, stage="correct", role="corrector",
                                   output=CHOSEN + "\n<Answer>48</Answer>", parent_id=student)
        own = traces.add_trace(store, run_id=run.id, stage="correct", role="self-corrector",
                               output=REJECTED, parent_id=student)
        traces.add_pair(store, run_id=run.id, stage="pairs", item_id=None,
                        prompt="Solve it.\n\n" + F.steps_text(F.parse_template(SOLUTION).steps[:1]),
                        chosen=CHOSEN, rejected=REJECTED, chosen_trace_id=teacher,
                        rejected_trace_id=own,
                        meta={"k": 2, "prefix": F.steps_text(F.parse_template(SOLUTION).steps[:1]),
                              "student_trace": student, "rejected": "self_correction",
                              "messages": [{"role": "user", "content": "Solve it.\nQuestion: "
                                            "Ada has 12 pens..."}]})
    return {"run": run.id, "student": student, "teacher": teacher, "own": own}


def _texts(widget) -> list[str]:
    return [w.text() for w in widget.findChildren(QLabel) if w.isVisibleTo(widget)]


def _shots() -> Path | None:
    folder = os.environ.get("DISTILLAB_SHOTS")
    return Path(folder) if folder else None


def test_template_blocks_fold_open_and_shut(qtbot):
    from gui.supercorrect_view import TemplateView

    view = TemplateView()
    qtbot.addWidget(view)
    view.set_text(SOLUTION)
    view.show()
    kinds = [b.kind for b in view.blocks]
    assert kinds == ["step", "step", "key", "step", "generalized", "answer"]
    key = view.blocks[2]
    assert not key.body.isVisible()  # keys start folded
    key.button.click()
    assert key.body.isVisible() and "Multiply place by place" in " ".join(_texts(key))
    step1 = view.blocks[0]
    step1.button.click()
    assert not step1.body.isVisible()
    view.set_text("no tags at all")
    qtbot.wait(20)  # children added to a shown widget are shown by a queued call
    assert any("Not a template" in t for t in _texts(view))


def test_pairs_table_shows_step_k_side_by_side_and_jumps_to_traces(qtbot, db_path, tmp_path):
    from gui.supercorrect_view import PairsView

    ids = _project(db_path)
    view = PairsView(db_path)
    qtbot.addWidget(view)
    view.resize(1300, 850)
    view.show()
    assert view.run_box.count() == 1 and view.table.rowCount() == 1
    assert view.table.item(0, 2).text() == "2"
    assert view.table.item(0, 4).text().startswith("<Step2> <Cause>It adds 3")
    shown = " | ".join(_texts(view.detail))
    assert "First wrong step: Step 2" in shown
    assert "The pens become 3 times as many: 19 + 3 = 22." in shown  # the student's step 2
    assert "It adds 3 instead of multiplying by 3." in shown and "19 * 3 = 57." in shown
    assert "The pens were counted twice." in shown and "19 + 3 = 23." in shown
    # the shared prefix (problem + step 1) is shown once
    assert shown.count("12 + 7 = 19") == 1 and shown.count("Ada has 12 pens") == 1
    view.table.selectRow(0)
    qtbot.wait(20)
    with qtbot.waitSignal(view.item_requested) as signal:
        view.open_button.click()  # item_id is None: nothing to open
        view.pairs[0]["item_id"] = 5
        view.open_button.click()
    assert signal.args == [5, [ids["student"], ids["teacher"], ids["own"]]]
    folder = _shots() or tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    image = view.grab()
    assert image.save(str(folder / "pairs_view.png"))
    assert image.width() > 600
