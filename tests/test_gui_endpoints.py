"""The Setup page's server pool table and batch checkbox (gui/endpoints_editor.py): edits
give the recipe's ``teacher.endpoints`` / ``teacher.batch``, the CLI's validation marks a
bad cell, and a saved recipe opens with the same rows. Offscreen Qt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from engine.paths import RECIPES_DIR
from engine.validate import load_recipe

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def _light_theme_and_no_leaked_threads(qapp, no_leaked_supervisors):
    from gui.theme import apply_theme

    apply_theme(qapp, "light")


def _pool_view(qtbot, tmp_path):
    from gui.setup_view import SetupView

    view = SetupView(tmp_path / "p.db")
    qtbot.addWidget(view)
    view.open_yaml(RECIPES_DIR / "smoke.yaml")
    view.teacher.preset.setCurrentText("vLLM")
    view.teacher.model.setCurrentText("qwen")
    return view


def test_the_table_gives_teacher_endpoints_and_a_bad_url_is_marked_at_its_cell(qtbot, tmp_path):
    view = _pool_view(qtbot, tmp_path)
    pool = view.teacher.pool
    assert "endpoints" not in view.recipe_data()["teacher"]
    assert view.recipe_data()["teacher"]["base_url"] == "http://localhost:8000/v1"
    qtbot.mouseClick(pool.add_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(pool.add_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(pool.add_button, Qt.MouseButton.LeftButton)
    assert pool.table.rowCount() == 3
    pool.cell(0, "base_url").setText("http://gpu1:8000/v1")
    pool.cell(0, "weight").setText("2")
    pool.cell(1, "base_url").setText("http://gpu2:8000/v1/")
    pool.cell(1, "model").setText("qwen-served")
    pool.cell(1, "api_key_env").setText("GPU2_KEY")
    teacher = view.recipe_data()["teacher"]
    assert teacher["endpoints"] == [  # the blank third row is left out, weight 1 too
        {"base_url": "http://gpu1:8000/v1", "weight": 2.0},
        {"base_url": "http://gpu2:8000/v1/", "model": "qwen-served", "api_key_env": "GPU2_KEY"}]
    assert "base_url" not in teacher and not view.teacher.base_url.isEnabled()  # a pool replaces it
    assert view.validate(), [view.side.problems.item(i).text() for i in range(view.side.problems.count())]

    pool.cell(0, "base_url").setText("gpu1:8000")  # no scheme
    pool.cell(1, "weight").setText("heavy")
    assert not view.validate()
    texts = [view.side.problems.item(i).text() for i in range(view.side.problems.count())]
    assert any(t.startswith("teacher.endpoints.0.base_url: base_url must be an http(s) URL")
               for t in texts), texts
    assert any(t.startswith("teacher.endpoints.1.weight:") for t in texts), texts
    bad = pool.cell(0, "base_url")
    assert bad.property("invalid") and "http(s) URL" in bad.toolTip()
    assert pool.cell(1, "weight").property("invalid")
    assert not pool.cell(1, "base_url").property("invalid")

    shots = os.environ.get("DISTILLAB_SHOTS")
    if shots:  # DISTILLAB_SHOTS=docs/shots: the picture in docs/teacher.md
        Path(shots).mkdir(parents=True, exist_ok=True)
        view.resize(1100, 800)
        view.show()
        qtbot.waitExposed(view)
        qtbot.wait(50)  # the layout settles
        around = pool.geometry().adjusted(-4, -6, 4, 4)  # the group's title too
        pool.parentWidget().grab(around).save(str(Path(shots) / "endpoints.png"))

    pool.cell(0, "base_url").setText("http://gpu1:8000/v1")
    pool.cell(1, "weight").setText("0.5")
    pool.table.selectRow(2)
    qtbot.mouseClick(pool.remove_button, Qt.MouseButton.LeftButton)
    assert pool.table.rowCount() == 2
    assert view.validate() and not bad.property("invalid")
    saved = tmp_path / "pool.yaml"
    view.save_yaml(saved)
    loaded = load_recipe(saved)  # the CLI reads what the table wrote
    assert [(e.base_url, e.weight) for e in loaded.recipe.teacher.endpoints or []] == \
        [("http://gpu1:8000/v1", 2.0), ("http://gpu2:8000/v1", 0.5)]
    from gui.setup_view import SetupView

    again = SetupView(tmp_path / "p.db")
    qtbot.addWidget(again)
    again.open_yaml(saved)
    again_pool = again.teacher.pool
    assert again_pool.table.rowCount() == 2 and again_pool.cell(1, "model").text() == "qwen-served"
    assert again.recipe_data()["teacher"] == view.recipe_data()["teacher"]


def test_batch_mode_is_a_checkbox_that_says_half_price_and_slower(qtbot, tmp_path):
    view = _pool_view(qtbot, tmp_path)
    box = view.teacher.pool.batch
    assert "half price" in box.toolTip().lower() and "slower" in box.toolTip().lower()
    assert "batch" not in view.teacher.more.fields  # not also a generic field
    box.setChecked(True)
    assert view.recipe_data()["teacher"]["batch"] is True
    assert view.validate()
    view.teacher.pool.add_row({"base_url": "http://gpu1:8000/v1"})  # batch goes to one endpoint
    assert not view.validate()
    texts = [view.side.problems.item(i).text() for i in range(view.side.problems.count())]
    assert any("teacher.batch sends one batch job to one endpoint" in t for t in texts), texts
    view.teacher.pool.remove_selected()
    view.teacher.preset.setCurrentText("Embedded local model")
    assert not view.validate()  # batch needs an OpenAI endpoint: said where it is set
    assert any("teacher.batch needs kind openai" in view.side.problems.item(i).text()
               for i in range(view.side.problems.count()))
    box.setChecked(False)
    assert view.validate() and "batch" not in view.recipe_data()["teacher"]
