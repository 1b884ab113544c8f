"""The training cockpit in the Run monitor (pytest-qt): curve controls, the machine-load
plot, the probe timeline of a real run with probes (the tiny student, a scripted teacher
over HTTP), picking a checkpoint on the curves and "Keep this checkpoint"."""

from __future__ import annotations

from pathlib import Path

import pyqtgraph as pg
import pytest

from engine import curves, probe, runner
from engine.store import Store, runs, traces
from engine.validate import parse_recipe

from .test_cockpit_probe import _probe_recipe
from .test_cot import server  # noqa: F401  (a fixture)


def test_smoothing_and_clip_are_what_they_say():
    assert curves.smooth([1.0, 1.0, 1.0], 0.9) == pytest.approx([1.0, 1.0, 1.0])  # debiased
    assert curves.smooth([0.0, 10.0], 0.5) == pytest.approx([0.0, 10 * 0.5 / 0.75])
    assert curves.smooth([3.0, 1.0], 0.0) == [3.0, 1.0]
    with pytest.raises(ValueError, match="smoothing weight"):
        curves.smooth([1.0], 1.0)
    values = [1.0, 1.1, 0.9, 1.0, 50.0, 1.05, 0.95, 1.0, 1.02, 0.98]
    clipped, n = curves.clip_outliers(values)
    assert n == 1 and max(clipped) < 50 and clipped[:4] == values[:4]
    steady = [3.0, 2.5, 2.0, 1.5, 1.0, 0.8]  # a steady decline is not an outlier
    assert curves.clip_outliers(steady) == (steady, 0)


@pytest.mark.slow
def test_cockpit_probe_timeline_pick_and_keep(qtbot, tmp_path, db_path, server,  # noqa: F811
                                              models_home):
    from gui.monitor_view import MonitorView

    loaded = parse_recipe(_probe_recipe(tmp_path, server.url, models_home, 2), "p.yaml",
                          tmp_path)
    run_id, status = runner.run_recipe(loaded, db_path)
    assert status == "completed"
    view = MonitorView(db_path)
    qtbot.addWidget(view)
    view.show_run(run_id)
    # machine load: CPU and RAM curves, no GPU curve on this machine
    assert view.plot_boxes["system"].isVisibleTo(view)
    legend = view.legends["system"].text()
    assert "train/cpu_percent" in legend and "ram_percent" in legend and "gpu" not in legend
    # eval loss beside train loss
    assert "train/loss" in view.legends["loss"].text()
    assert "train/eval_loss" in view.legends["loss"].text()
    # the probe grid: one row, checkpoints 0..3, answers as stored
    assert view.probe.isVisibleTo(view)
    with Store(db_path) as store:
        line = probe.timeline(store, run_id)
    cells = view.probe.cell_texts()
    assert len(cells) == 1 and len(cells[0]) == 4
    for shown, cell in zip(cells[0], line.cells[0], strict=True):
        assert shown == ("⇄ " if cell.flipped else "") + (cell.answer or "—") + \
            f"  [{cell.steps}]"
    assert [view.probe.grid.horizontalHeaderItem(i).text() for i in range(4)] == \
        ["step 0", "step 1", "step 2", "step 3"]
    # smoothing draws the raw curve faintly behind the smoothed one; log scale switches axes
    view.curve_controls.smoothing.setValue(0.6)
    view._redraw()
    assert len(view.plots["loss"].getPlotItem().listDataItems()) == 4  # loss + eval, raw + smooth
    view.curve_controls.log_scale.setChecked(True)
    view._redraw()
    assert view.plots["loss"].getPlotItem().ctrl.logYCheck.isChecked()
    # a cell shows that checkpoint's whole answer
    view.probe._cell_clicked(0, 3)
    with Store(db_path) as store:
        last = traces.get_trace(store, line.cells[0][3].trace_id)
    assert view.probe.answer.toPlainText().endswith((last.output or "").replace("\r", "\n"))
    assert "step 3 (checkpoint-3" in view.probe.answer.toPlainText()
    # step 0 is the untrained model: nothing to keep
    view.probe.pick(0)
    assert not view.probe.keep_button.isEnabled()
    # pick checkpoint 2: marked on the curves, kept as the run's adapter
    view.probe.pick(2)
    view._redraw()
    marks = [i for i in view.plots["loss"].getPlotItem().items if isinstance(i, pg.InfiniteLine)]
    assert [m.value() for m in marks] == [2]
    assert view.probe.keep_button.isEnabled() and view.probe.keep_button.text() == \
        "Keep checkpoint 2"
    view.probe.keep_button.click()
    assert "checkpoint 2 is now this run's adapter" in view.probe.status.text()
    with Store(db_path) as store:
        adapter = [a for a in runs.artifacts(store, run_id) if a["kind"] == "adapter"][-1]
    assert adapter["path"].endswith("checkpoint-2") and Path(adapter["path"]).is_dir()
    # a checkpoint deleted from disk: the message says so, nothing is registered
    view.probe.pick(1)
    folder = Path(view.probe.line.checkpoint_dirs[1])
    if folder.is_dir():
        import shutil

        shutil.rmtree(folder)
    view.probe.keep_button.click()
    assert view.probe.status.text().startswith("✗ checkpoint") and "no adapter" in \
        view.probe.status.text()
    with Store(db_path) as store:
        assert [a for a in runs.artifacts(store, run_id) if a["kind"] == "adapter"][-1][
            "path"] == adapter["path"]
