"""The Studies view and Setup's "Run as study…" with pytest-qt: what the view shows for a
real study (arms with intervals, paired differences with marks, plots, reused stages, the
win/loss matrix), a matrix click opening both traces step-aligned in Traces, and a study
started from Setup running in a worker process to the end."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from engine.paths import RECIPES_DIR
from engine.store import Store, studies
from engine.studies import runner as study_runner
from engine.studies.analysis import analyse
from engine.studies.spec import parse_study

from .conftest import smoke_recipe_text, write_jsonl
from .test_layering import _loaded_after

pytestmark = pytest.mark.gui

STUDY = """schema_version: 1
name: gui-study
description: Does a noisier verifier lower measured accuracy?
base: base.yaml
seeds: [0, 1]
arms:
  - name: exact
  - name: noisy
    set: {stages.check.noise: 0.3}
  - name: noisier
    set: {stages.check.noise: 0.6}
comparisons:
  - metric: accuracy
    stage: check
    cost_axes: [student_gen_tokens, wall_s]
"""


@pytest.fixture(autouse=True)
def _light_theme_and_no_leaked_threads(qapp, no_leaked_supervisors):
    from gui.theme import apply_theme

    apply_theme(qapp, "light")


@pytest.fixture(scope="module")
def study_db(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("gui-study")
    rows = [{"question": f"What is {i} times 3?",
             "solution": f"We multiply.\n{i} * 3 = {i * 3}\n#### {i * 3}", "answer": str(i * 3)}
            for i in range(20)]
    data = write_jsonl(tmp / "d.jsonl", rows)
    (tmp / "base.yaml").write_text(smoke_recipe_text(data))
    db = tmp / "p.db"
    loaded = parse_study(STUDY, str(tmp / "study.yaml"), tmp)
    assert study_runner.run_study(loaded, db) == (1, "completed")
    return db


def _shots() -> Path | None:
    folder = os.environ.get("DISTILLAB_SHOTS")
    return Path(folder) if folder else None


def _save_shot(widget, name: str, tmp_path: Path) -> QImage:
    path = tmp_path / name
    assert widget.grab().save(str(path))
    image = QImage(str(path))
    shots = _shots()
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
        image.save(str(shots / name))
    return image


def test_studies_view_shows_arms_differences_plots_reuse_and_the_matrix(qtbot, study_db,
                                                                        tmp_path):
    from gui.studies_view import StudiesView

    view = StudiesView(study_db)
    qtbot.addWidget(view)
    view.resize(1300, 850)
    view.show()
    with Store(study_db) as store:
        a = analyse(store, 1)
    (comp,) = a.comparisons
    assert "study 1 · gui-study" in view.summary.text()
    assert "stages computed 14, reused 4" in view.summary.text()
    t = view.arms_table
    assert [t.horizontalHeaderItem(j).text() for j in range(3)] == ["exact", "noisy", "noisier"]
    labels = [t.verticalHeaderItem(i).text() for i in range(t.rowCount())]
    assert labels[:3] == ["accuracy ± half CI", "95% CI", "items · seeds"]
    assert labels[3:] == ["student generation tokens", "wall time (s)"]
    e = comp.arms[1].estimate
    assert t.item(0, 1).text() == f"{e.mean:.3f} ± {e.half_width():.3f}"
    assert t.item(2, 0).text() == "40 · 2"
    d = view.diffs_table
    assert d.rowCount() == 2 and d.item(0, 0).text() == "noisy − exact"
    for row, pair in enumerate(comp.pairs):
        assert d.item(row, 1).text() == f"{pair.result.diff.mean:+.3f}"
        assert d.item(row, 5).text() == ("*" if pair.significant else "")
        assert d.item(row, 7).text() == "McNemar exact"
    assert comp.pairs[1].significant  # 60% of verdicts flipped: a difference the test sees
    # plots: an error bar, the means and the seeds in the arms plot; a point per arm for costs
    assert len(view.plot_arms.getPlotItem().items) == 3
    assert [view.axis_box.itemText(i) for i in range(view.axis_box.count())] == \
        ["student generation tokens", "wall time (s)"]
    assert len(view.plot_cost.getPlotItem().listDataItems()) == 3
    runs = view.runs_table
    assert runs.rowCount() == 6 and runs.item(1, 4).text() == "echo (run 1)"
    # the matrix: noisy vs exact, every (seed, item) of both seeds
    m = view.matrix_model
    assert (view.arm_a.currentText(), view.arm_b.currentText()) == ("exact", "noisy")
    assert m.rowCount() == 20 and m.columnCount() == 3  # the question, then a column per seed
    assert m.data(m.index(0, 0)).startswith("What is ") and m.cell(m.index(0, 0)) is None
    outcomes = [m.cell(m.index(r, c)).outcome for r in range(20) for c in (1, 2)]
    pair = comp.pairs[0].result
    assert outcomes.count("win") == pair.wins and outcomes.count("loss") == pair.losses
    assert f"▼ {pair.losses} lower" in view.matrix_label.text()
    # items where the arms differ (in some seed) come first
    assert any(m.cell(m.index(0, c)).outcome != "tie" for c in (1, 2))
    assert all(m.cell(m.index(19, c)).outcome == "tie" for c in (1, 2))
    image = _save_shot(view, "studies-view.png", tmp_path)
    assert image.width() == 1300
    view.arm_b.setCurrentText("exact")
    assert m.rowCount() == 0 and "two different arms" in view.matrix_label.text()


def test_a_matrix_cell_opens_both_traces_step_aligned_in_traces(qtbot, study_db, tmp_path):
    from gui.app import MainWindow

    window = MainWindow(study_db)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    window.show_page("Studies")
    view = window.studies_view
    assert window.stack.currentWidget() is view
    index = view.matrix_model.index(0, 1)
    cell = view.matrix_model.cell(index)
    with qtbot.waitSignal(view.item_requested) as signal:
        centre = view.matrix.visualRect(index).center()
        qtbot.mouseClick(view.matrix.viewport(), Qt.MouseButton.LeftButton, pos=centre)
        qtbot.mouseDClick(view.matrix.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    assert signal.args == [cell.item_id, [cell.trace_a, cell.trace_b]]
    assert window.stack.currentWidget() is window.traces_view
    traces_view = window.traces_view
    assert traces_view.compared == [cell.trace_a, cell.trace_b]
    comp = traces_view.steps.comparison
    assert [t.id for t in comp.traces] == [cell.trace_a, cell.trace_b]
    assert len(comp.rows) == 3 and all(c is not None for row in comp.rows for c in row)
    ticked = [traces_view.choices.item(i).data(Qt.ItemDataRole.UserRole)
              for i in range(traces_view.choices.count())
              if traces_view.choices.item(i).checkState() == Qt.CheckState.Checked]
    assert sorted(ticked) == sorted([cell.trace_a, cell.trace_b])
    _save_shot(window, "studies-traces-from-matrix.png", tmp_path)
    window.show_page("Studies")
    _save_shot(window, "studies-window.png", tmp_path)


def test_run_as_study_lists_problems_then_runs_the_study_in_a_worker(qtbot, tmp_path):
    from gui.app import MainWindow

    db = tmp_path / "p.db"
    window = MainWindow(db)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    setup = window.setup_view
    setup.open_yaml(RECIPES_DIR / "smoke.yaml")
    qtbot.mouseClick(setup.side.study_button, Qt.MouseButton.LeftButton)
    dialog = setup.study_dialog
    assert dialog.isVisible() and dialog.arms.rowCount() == 2
    dialog.seeds.setText("0, 1")
    dialog.arms.item(1, 0).setText("noisy")
    dialog.arms.item(1, 1).setText("stages.check.noise=3")
    dialog.stage.setText("check")
    qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()  # not accepted: the override breaks the recipe
    problems = [dialog.problems.item(i).text() for i in range(dialog.problems.count())]
    assert len(problems) == 1 and "arms.1.set (noisy): stages.check.noise" in problems[0]
    assert "less than or equal to 1" in problems[0]
    _save_shot(dialog, "run-as-study-dialog.png", tmp_path)
    dialog.arms.item(1, 1).setText("stages.check.noise=0.4; stages.echo.delay_s=0")
    with qtbot.waitSignal(setup.run_requested) as signal:
        qtbot.mouseClick(dialog.run_button, Qt.MouseButton.LeftButton)
    spec = signal.args[0]
    assert spec.is_study and "base_recipe:" in spec.study_text
    assert Path(spec.study_dir) == RECIPES_DIR.resolve()
    # the main window ran it in a worker process: wait for the study's end
    qtbot.waitUntil(lambda: window.supervisor is None, timeout=120_000)
    assert window.job_label.text() == "Study 1 completed"
    with Store(db) as store:
        assert [(r.arm, r.seed, r.status) for r in studies.study_runs(store, 1)] == [
            ("base", 0, "completed"), ("noisy", 0, "completed"),
            ("base", 1, "completed"), ("noisy", 1, "completed")]
    window.show_page("Studies")
    view = window.studies_view
    assert view.study_box.currentData() == 1 and "stages computed 10, reused 2" in \
        view.summary.text()
    assert view.diffs_table.rowCount() == 1 and view.diffs_table.item(0, 0).text() == \
        "noisy − base"


def test_study_gui_modules_import_no_model_library():
    loaded = _loaded_after("import gui.studies_view, gui.study_dialog, gui.study_matrix")
    heavy = {"torch", "transformers", "peft", "trl", "bitsandbytes", "llama_cpp", "datasets",
             "matplotlib"}
    assert not heavy & {m.split(".")[0] for m in loaded}
