"""GUI views with pytest-qt on the offscreen platform: each view driven and checked on what it
shows, screenshots that are not blank, and no model library imported by the GUI."""

from __future__ import annotations

import http.server
import json
import os
import threading
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from engine import browse
from engine.paradigms import PARADIGMS
from engine.paths import RECIPES_DIR
from engine.store import StepIn, Store, runs, traces
from engine.validate import load_recipe
from gui.sample_data import make_sample_project

from .conftest import write_jsonl
from .test_layering import _loaded_after

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def _light_theme_and_no_leaked_threads(qapp, no_leaked_supervisors):
    from gui.theme import apply_theme

    apply_theme(qapp, "light")


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    db = tmp_path_factory.mktemp("sample") / "sample.db"
    return db, make_sample_project(db)


@pytest.fixture
def window(qtbot, sample):
    from gui.app import MainWindow

    db, _ = sample
    w = MainWindow(db)
    qtbot.addWidget(w)
    w.show()
    return w


def test_main_window_navigates_views_keeps_recent_projects_and_has_an_about_box(window, sample):
    from gui import settings

    db, _ = sample
    assert window.windowTitle() == "Distillab — sample.db"
    assert not window.windowIcon().isNull()
    assert [window.nav.item(i).text() for i in range(window.nav.count())] == \
        ["Setup", "Runs", "Traces", "Compare", "Studies", "Pairs", "Mistakes", "Rounds", "Search",
         "Playground", "Settings"]
    assert window.stack.currentWidget() is window.monitor_view  # a project with runs opens on Runs
    for name, view in (("Setup", window.setup_view), ("Traces", window.traces_view),
                       ("Compare", window.compare_view), ("Settings", window.settings_view)):
        window.show_page(name)
        assert window.stack.currentWidget() is view
    assert db.resolve() in [p.resolve() for p in settings.recent_projects()]
    assert window.recent_menu.actions()[0].text() == str(db.resolve())
    assert window.job_label.text() == "No job running" and not window.cancel_button.isEnabled()
    window.about()
    box = window.about_box
    assert box.isVisible() and "Distillab" in box.text() and not box.iconPixmap().isNull()
    box.close()


def test_setup_validates_shows_problems_at_their_fields_and_round_trips_yaml(qtbot, tmp_path):
    from gui.forms import ModelForm
    from gui.setup_view import SetupView

    view = SetupView(tmp_path / "p.db")
    qtbot.addWidget(view)
    view.open_yaml(RECIPES_DIR / "smoke.yaml")
    assert view.side.status.text().startswith("✓") and view.side.problems.count() == 0
    assert view.data.preview.rowCount() == 5 and "question" in view.data.columns
    concurrency = view.teacher.more.fields["concurrency"][0]
    concurrency.setValue(0)
    delay = view.stages.forms["echo"].fields["delay_s"][0]
    delay.setText("99")
    assert not view.validate()
    texts = [view.side.problems.item(i).text() for i in range(view.side.problems.count())]
    assert any(t.startswith("teacher.concurrency:") and "greater than or equal to 1" in t
               for t in texts)
    assert any(t.startswith("stages.echo.delay_s:") for t in texts)
    assert concurrency.property("invalid") and "fix:" in concurrency.toolTip()
    assert delay.property("invalid")
    assert view.widget_for("teacher.budget.max_usd") is not None
    # the tooltip of a generated field is the model's help text
    assert view.training.fields["learning_rate"][0].toolTip() == "Peak learning rate."
    concurrency.setValue(4)
    delay.setText("0.5")
    assert view.validate() and not concurrency.property("invalid")
    saved = tmp_path / "sub" / "mine.yaml"
    saved.parent.mkdir()
    view.save_yaml(saved)
    loaded = load_recipe(saved)  # the CLI's loader accepts what Setup saved
    assert loaded.recipe.teacher.concurrency == 4
    assert loaded.stage_params["echo"].model_dump()["delay_s"] == 0.5
    assert (saved.parent / loaded.recipe.dataset.path).resolve() == \
        (RECIPES_DIR.parent / "assets/demo/math.jsonl").resolve()
    again = SetupView(tmp_path / "p.db")
    qtbot.addWidget(again)
    again.open_yaml(saved)
    assert again.recipe_data() == view.recipe_data()
    assert isinstance(again.stages.forms["echo"], ModelForm)


def test_paradigm_cards_generate_the_stage_forms(qtbot, tmp_path):
    from gui.setup_view import SetupView

    view = SetupView(tmp_path / "p.db")
    qtbot.addWidget(view)
    assert set(view.paradigm_cards.cards) == set(PARADIGMS)
    for name, paradigm in PARADIGMS.items():
        qtbot.mouseClick(view.paradigm_cards.cards[name], Qt.MouseButton.LeftButton)
        assert view.paradigm == name and view.paradigm_cards.cards[name].property("selected")
        assert list(view.stages.forms) == [s.name for s in paradigm.stages]
        for spec in paradigm.stages:
            form = view.stages.forms[spec.name]
            for field, info in spec.params.model_fields.items():
                if field in form.fields:
                    assert form.fields[field][0].toolTip() == (info.description or "")
        assert f"paradigm: {name}" in view.recipe_text()


class _Models(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == "/v1/models" and self.headers.get("Authorization") == "Bearer sk-test"
        body = json.dumps({"data": [{"id": "qwen2.5-7b"}, {"id": "llama-3.1-8b"}]}).encode()
        self.send_response(200 if ok else 401)
        self.end_headers()
        self.wfile.write(body if ok else b"{}")

    def log_message(self, *args):
        pass


def test_a_lab_recipe_stays_a_lab_recipe_and_its_teacher_probes(qtbot, tmp_path):
    from gui.setup_teacher import LAB_PRESET
    from gui.setup_view import SetupView

    view = SetupView(tmp_path / "p.db")
    qtbot.addWidget(view)
    view.load_data({"schema_version": 1, "name": "lab", "paradigm": "smoke",
                    "dataset": {"path": "arith.jsonl"},
                    "teacher": {"kind": "lab", "lab": {"error_rate": 0.2, "style": "carry"}}})
    assert view.teacher.preset.currentText() == LAB_PRESET and not view.teacher.base_url.isEnabled()
    teacher = view.recipe_data()["teacher"]
    assert teacher["kind"] == "lab" and teacher["model"] == "lab"
    assert teacher["lab"] == {"error_rate": 0.2, "style": "carry"}
    view.teacher.test_connection()
    qtbot.waitUntil(lambda: view.teacher.test_button.isEnabled(), timeout=30_000)
    assert "models             lab" in view.teacher.test_result.text()


def test_teacher_presets_model_list_and_probe(qtbot, tmp_path, monkeypatch):
    from gui.setup_view import SetupView

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Models)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        view = SetupView(tmp_path / "p.db")
        qtbot.addWidget(view)
        view.teacher.preset.setCurrentText("OpenAI")
        assert view.teacher.base_url.text() == "https://api.openai.com/v1"
        assert view.teacher.key_env.text() == "OPENAI_API_KEY"
        view.teacher.preset.setCurrentText("Custom URL")
        view.teacher.base_url.setText(f"http://127.0.0.1:{server.server_port}/v1")
        view.teacher.key_env.setText("DISTILLAB_TEST_KEY")
        assert "not set" in view.teacher.key_status.text()
        view.teacher.fetch_models()
        assert not view.teacher.fetch_button.isEnabled()  # off the GUI thread: the window stays live
        qtbot.waitUntil(lambda: "HTTP 401" in view.teacher.test_result.text(), timeout=10_000)
        assert "API key" in view.teacher.test_result.text() and view.teacher.fetch_button.isEnabled()
        monkeypatch.setenv("DISTILLAB_TEST_KEY", "sk-test")
        view.teacher.show_key_status()
        assert "is set" in view.teacher.key_status.text()
        view.teacher.fetch_models()
        qtbot.waitUntil(lambda: view.teacher.model.count() == 2, timeout=10_000)
        assert [view.teacher.model.itemText(i) for i in range(view.teacher.model.count())] == \
            ["llama-3.1-8b", "qwen2.5-7b"]
        data = view.recipe_data()["teacher"]
        assert data["kind"] == "openai" and data["api_key_env"] == "DISTILLAB_TEST_KEY"
        assert "sk-test" not in view.recipe_text()  # the key itself never goes into a recipe
        view.teacher.test_connection()
        qtbot.waitUntil(lambda: view.teacher.test_button.isEnabled(), timeout=30_000)
        assert "probe failed" in view.teacher.test_result.text()  # /models only: no chat endpoint
        view.student.update_memory()
        assert view.student.memory.text().startswith("Memory estimate: ")
    finally:
        server.shutdown()


def test_data_panel_previews_rows_and_checks_the_mapping(qtbot, tmp_path):
    from gui.setup_data import DataPanel

    rows = [{"q": f"What is {i}+1?", "sol": f"{i}+1={i + 1}", "ans": str(i + 1)} for i in range(9)]
    path = write_jsonl(tmp_path / "d.jsonl", rows)
    panel = DataPanel()
    qtbot.addWidget(panel)
    panel.set_values({"path": str(path), "fields": {"question": "q", "answer": "missing"}})
    assert panel.preview.rowCount() == 5 and panel.columns == ["ans", "q", "sol"]
    assert panel.preview.item(0, 1).text() == "What is 0+1?"
    assert "first 5 of 9 records" in panel.preview_label.text()
    problems = panel.check(None)
    assert [p.field for p in problems] == ["dataset.fields"] and "missing" in problems[0].message
    panel.set_values({"path": str(tmp_path / "nope.jsonl")})
    assert panel.check(None)[0].field == "dataset.path"
    panel.set_values({"path": str(path)})
    panel.show_template()
    assert panel.template.toPlainText()  # the rendered example, or why there is none


def _many_traces(db: Path, n: int) -> None:
    with Store(db) as store:
        run = runs.create_run(store, name="bulk", paradigm="smoke", recipe_yaml="x", seed=0,
                              stage_names=["s"])
        with store.transaction():
            store.conn.executemany(
                "INSERT INTO traces (run_id, stage, role, output, sample_index, verdict, created_at)"
                " VALUES (?, 's', ?, ?, 0, ?, '')",
                [(run.id, "student" if i % 2 else "teacher", f"output number {i}",
                  "wrong" if i % 5 == 0 else "correct") for i in range(n)])


def test_traces_table_pages_with_fetch_more_and_filters(qtbot, tmp_path):
    from gui.traces_view import PAGE, TracesView

    db = tmp_path / "t.db"
    _many_traces(db, 1000)
    view = TracesView(db)
    qtbot.addWidget(view)
    model = view.model
    assert model.rowCount() == PAGE and model.canFetchMore()
    model.fetchMore()
    assert model.rowCount() == 2 * PAGE and model.rows[PAGE].id == model.rows[PAGE - 1].id + 1
    assert view.count.text() == f"{PAGE}+ traces"
    view.role_box.setCurrentText("teacher")
    assert all(r.role == "teacher" for r in model.rows) and model.rowCount() == PAGE
    view.verdict_box.setCurrentText("wrong")
    view.apply_filter()
    assert model.rowCount() == 100 and not model.canFetchMore()  # 1000 / 2 roles / 5
    view.search.setText("number 10")
    qtbot.waitUntil(lambda: model.rowCount() < 100, timeout=3000)
    assert {r.preview for r in model.rows} <= {f"output number {i}" for i in range(1000)}
    assert all("number 10" in r.preview for r in model.rows)
    assert model.data(model.index(0, 8)) == model.rows[0].preview


def test_side_by_side_alignment_badges_diff_and_keyboard(qtbot, window, sample):
    _, ids = sample
    window.show_page("Traces")
    view = window.traces_view
    qtbot.waitUntil(lambda: view.model.rowCount() > 0)
    row = next(i for i, r in enumerate(view.model.rows) if r.id == ids["student_trace"])
    view.table.selectRow(row)
    # the selected student trace first, then the teacher side of its own run
    assert view.compared == [ids["student_trace"], ids["teacher_trace"], ids["reviser_trace"]]
    comp = view.steps.comparison
    assert comp is not None and len(comp.rows) == 5  # the student's extra step gets a row of its own
    assert comp.rows[3][1] is None and comp.rows[3][2] is None
    assert comp.first_wrong_row == [1, None, None]
    html = view.steps.toHtml()
    assert "first wrong step" in html and "line-through" in html and "log_ppl" in html
    assert "✗" in view.steps.toPlainText() and "✓" in view.steps.toPlainText()
    assert view.steps.current_row == 1
    view.steps.setFocus()
    qtbot.keyClick(view.steps, Qt.Key.Key_F8)
    assert view.steps.current_row == 2
    qtbot.keyClick(view.steps, Qt.Key.Key_F8, Qt.KeyboardModifier.ShiftModifier)
    assert view.steps.current_row == 1
    item = view.item_id
    qtbot.keyClick(view.steps, Qt.Key.Key_Down, Qt.KeyboardModifier.ControlModifier)
    assert view.item_id == item + 1 and view.compared
    qtbot.keyClick(view.steps, Qt.Key.Key_Up, Qt.KeyboardModifier.ControlModifier)
    assert view.item_id == item
    # unticking a trace re-aligns the other two
    checked = [view.choices.item(i) for i in range(view.choices.count())
               if view.choices.item(i).checkState() == Qt.CheckState.Checked]
    assert len(checked) == 3
    checked[0].setCheckState(Qt.CheckState.Unchecked)
    assert len(view.steps.comparison.traces) == 2


def test_monitor_shows_stages_plots_cost_and_errors_with_their_fix(qtbot, tmp_path):
    from gui.monitor_view import MonitorView

    db = tmp_path / "m.db"
    ids = make_sample_project(db)
    with Store(db) as store:
        runs.set_run(store, ids["smoke_run"], status="failed",
                     error="teacher endpoint refused the key\nset OPENAI_API_KEY and Resume")
    view = MonitorView(db)
    qtbot.addWidget(view)
    view.show_run(ids["student_run"])
    train = view.stage_rows["train"]
    assert (train.bar.value(), train.bar.maximum()) == (120, 120)
    assert train.info.text() == "completed · 388.0 s"
    assert view.cost.text().startswith("Teacher: 30 calls") and "$0.0068" in view.cost.text()
    assert "used 15,894 tokens" in view.cost.text() and "0 answers from the cache" in \
        view.cost.text()
    assert len(view.plots["loss"].getPlotItem().listDataItems()) == 1
    # metrics: a table grouped evaluation / training, the legend under the plot (never on
    # its lines), no bar chart: the series-less "other" plot is hidden
    rows = view.metric_rows()
    assert rows.index(("evaluation",)) < rows.index(("solve@2", "0.55", "", "")) < \
        rows.index(("training",)) < rows.index(("loss", rows[rows.index(("training",)) + 1][1],
                                                  "", ""))
    assert view.plots["loss"].getPlotItem().legend is None
    assert "loss" in view.legends["loss"].text()
    assert not view.plot_boxes["other"].isVisibleTo(view)
    assert not view.banner.isVisibleTo(view)
    view.show_run(ids["smoke_run"])
    assert view.banner.isVisibleTo(view)
    assert "refused the key" in view.banner_text.text() and "Fix: set OPENAI_API_KEY" in \
        view.banner_text.text()
    assert view.resume_button.isEnabled() is False or view._status_of(ids["smoke_run"]) == "failed"
    view.refresh()
    view.show_run(ids["smoke_run"])
    assert view.resume_button.isEnabled()


def test_compare_shows_intervals_cost_wins_losses_and_solve_at_k(qtbot, window, sample):
    _, ids = sample
    view = window.compare_view
    assert view.ticked() == [ids["smoke_run"], ids["student_run"]]
    labels = [view.table.verticalHeaderItem(i).text() for i in range(view.table.rowCount())]
    acc_row = labels.index("pass rate · evaluate (95% CI)")
    assert view.table.item(acc_row, 1).text() == "0.733  [0.556 – 0.858]  (22/30)"
    assert view.table.item(labels.index("teacher tokens paid"), 1).text() == "15,894"
    assert view.table.item(labels.index("teacher tokens used"), 1).text() == "15,894"  # no cache
    with Store(sample[0]) as store:
        wl = browse.wins_losses(store, ids["smoke_run"], ids["student_run"])
    assert f"{wl.losses}</b> losses" in view.wins_label.text()
    assert view.items_table.rowCount() == 30
    assert len(view.plot_k.getPlotItem().listDataItems()) == 2  # solve@k of both runs
    assert len(view.plot_tokens.getPlotItem().listDataItems()) == 4  # one curve per k
    assert view.plot_tokens.isVisibleTo(view) and not view.tokens_note.isVisibleTo(view)
    assert labels.index("— evaluation —") < labels.index("solve@2") < labels.index("— training —")
    view.runs_list.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert view.items_table.rowCount() == 0 and view.table.columnCount() == 1
    # one run: no one-point-per-k plot against tokens, a note instead; solve@k against k
    # keeps an axis of non-zero width around its values
    assert not view.plot_tokens.isVisibleTo(view) and view.tokens_note.isVisibleTo(view)
    assert "needs two runs" in view.tokens_note.text()
    (x0, x1), (y0, y1) = view.plot_k.getPlotItem().viewRange()
    assert x0 < 1 < 5 < x1 and y0 < 0.30 < 0.47 < y1  # the smoke run: solve@1, solve@5


def test_compare_puts_the_interval_beside_its_value_and_single_values_get_sane_axes(
        qtbot, tmp_path):
    from gui.compare_view import CompareView

    db = tmp_path / "c.db"
    with Store(db) as store:
        run = runs.create_run(store, name="one", paradigm="smoke", recipe_yaml="x", seed=0,
                              stage_names=["evaluate"])
        for name, value in (("solve@1", 0.5), ("solve@1_ci_low", 0.25), ("solve@1_ci_high", 0.75),
                            ("accuracy", 0.4), ("accuracy_n", 20.0)):
            runs.add_metric(store, run.id, name, value, stage="evaluate")
        for tokens in (12, 30):  # cost/* values add up to the run's cost
            runs.add_metric(store, run.id, "cost/train_tokens", tokens, stage="train")
    view = CompareView(db)
    qtbot.addWidget(view)
    labels = [view.table.verticalHeaderItem(i).text() for i in range(view.table.rowCount())]
    assert not any(label.endswith(("_ci_low", "_ci_high", "_n")) for label in labels)
    assert view.table.item(labels.index("solve@1"), 0).text() == "0.5  [0.25 – 0.75]"
    assert view.table.item(labels.index("cost/train_tokens"), 0).text() == "42"
    assert labels.index("— evaluation —") < labels.index("solve@1") < labels.index("— cost —")
    # one run with one k: one point, yet a readable axis (not 0.5 +- 1e-9)
    (x0, x1), (y0, y1) = view.plot_k.getPlotItem().viewRange()
    assert (x0, x1) == pytest.approx((0.9, 1.1)) and (y0, y1) == pytest.approx((0.45, 0.55))


def test_settings_persist_and_the_theme_switches(qtbot, window):
    from gui import settings
    from gui.settings import SettingsView

    view = window.settings_view
    light = QApplication.instance().palette().window().color().name()
    view.theme.setCurrentText("dark")
    assert QApplication.instance().palette().window().color().name() != light
    view.endpoint_edits["vLLM"].setText("http://gpu-box:8000/v1")
    view.endpoint_edits["vLLM"].editingFinished.emit()
    assert settings.theme() == "dark" and settings.endpoints()["vLLM"] == "http://gpu-box:8000/v1"
    again = SettingsView()
    qtbot.addWidget(again)
    assert again.theme.currentText() == "dark"
    window.setup_view.teacher.preset.setCurrentText("vLLM")
    assert window.setup_view.teacher.base_url.text() == "http://gpu-box:8000/v1"
    view.theme.setCurrentText("light")


def _distinct_colours(image: QImage) -> int:
    step = 7
    seen = set()
    for y in range(0, image.height(), step):
        for x in range(0, image.width(), step):
            seen.add(image.pixel(x, y))
    return len(seen)


def test_screenshots_of_each_main_view_are_not_blank(qtbot, window, sample, tmp_path):
    _, ids = sample
    out = tmp_path / "shots"
    out.mkdir()
    window.resize(1400, 900)
    window.setup_view.open_yaml(RECIPES_DIR / "smoke.yaml")
    shared = Path(os.environ["DISTILLAB_SHOTS"]) if os.environ.get("DISTILLAB_SHOTS") else None
    for name in ("Setup", "Runs", "Traces", "Compare", "Settings"):
        window.show_page(name)
        if name == "Traces":
            view = window.traces_view
            view.table.selectRow(next(i for i, r in enumerate(view.model.rows)
                                      if r.id == ids["student_trace"]))
        if name == "Runs":
            window.monitor_view.show_run(ids["student_run"])
        qtbot.wait(50)
        path = out / f"{name.lower()}.png"
        assert window.grab().save(str(path))
        image = QImage(str(path))
        assert image.width() == 1400 and _distinct_colours(image) > 40, name
        if shared is not None:
            shared.mkdir(parents=True, exist_ok=True)
            image.save(str(shared / path.name))


def test_browse_compares_three_traces_when_steps_are_missing_or_inserted(tmp_path):
    db = tmp_path / "b.db"
    with Store(db) as store:
        run = runs.create_run(store, name="r", paradigm="smoke", recipe_yaml="x", seed=0,
                              stage_names=["s"])
        a = traces.add_trace(store, run_id=run.id, stage="s", role="teacher", output="",
                             steps=[StepIn("add the apples 3 + 4 = 7"), StepIn("double it 14")])
        b = traces.add_trace(store, run_id=run.id, stage="s", role="student", output="",
                             steps=[StepIn("unrelated greeting hello"),
                                    StepIn("add the apples 3 + 4 = 8", verdict="wrong"),
                                    StepIn("double it 16", verdict="wrong")])
        c = traces.add_trace(store, run_id=run.id, stage="s", role="reviser",
                             output="add the apples 3 + 4 = 7\ndouble it 14\nso 14")
        comp = browse.compare_traces(store, [a, b, c])
    grid = [[None if cell is None else cell.index for cell in row] for row in comp.rows]
    assert grid == [[None, 0, None], [0, 1, 0], [1, 2, 1], [None, None, 2]]
    assert comp.first_wrong_row == [None, 1, None]
    assert browse.wrong_rows(comp) == [1, 2]
    assert ("insert", "8") in comp.rows[1][1].diff and ("delete", "7") in comp.rows[1][1].diff


def test_gui_modules_import_no_model_library():
    modules = ["gui.app", "gui.setup_view", "gui.setup_data", "gui.setup_teacher",
               "gui.setup_student", "gui.setup_paradigm", "gui.setup_side", "gui.monitor_view",
               "gui.traces_view", "gui.step_compare", "gui.compare_view", "gui.settings",
               "gui.hooks", "gui.engine_thread", "gui.forms", "gui.theme", "gui.sample_data",
               "gui.cockpit", "gui.playground_view", "gui.elad_view", "gui.reer_search",
               "gui.run_picker", "gui.sample_paradigms", "engine.browse", "engine.playground",
               "engine.probe", "engine.curves", "engine.sysstats"]
    loaded = _loaded_after("\n".join(f"import {m}" for m in modules))
    heavy = {"torch", "transformers", "peft", "trl", "bitsandbytes", "llama_cpp", "datasets"}
    assert not heavy & {m.split(".")[0] for m in loaded}


def test_a_paradigm_card_starts_from_its_default_recipe(qtbot, tmp_path):
    from engine.paths import RECIPES_DIR
    from gui.setup_view import SetupView

    view = SetupView(tmp_path / "p.db")
    qtbot.addWidget(view)
    view.paradigm_cards.cards["explain"].clicked.emit("explain")
    assert view.paradigm == "explain" and view.name.text() == "explain-demo"
    assert view.data.values()["path"].endswith("code.jsonl")
    assert set(view.stages.forms) == {"explain", "weight", "train", "plan", "code", "evaluate"}
    assert view.recipe_path is None  # Save as asks where: the shipped file stays untouched
    assert view.base_dir() == RECIPES_DIR.resolve()  # ../assets/demo/code.jsonl still resolves
    assert view.validate()
