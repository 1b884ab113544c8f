"""The engine thread in the window: a job started from Setup streams into the monitor while
the event loop stays responsive; cancel, resume, and a killed worker shown as a message."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QTimer

from engine.store import Store, runs

from .conftest import write_jsonl

pytestmark = [pytest.mark.gui, pytest.mark.slow, pytest.mark.usefixtures("no_leaked_supervisors")]

# Gaps between 10 ms timer ticks while a job runs. A GUI thread that waited on the job
# (e.g. polled its queue with a 0.1 s timeout) would push the 95th percentile to ~100 ms;
# the worst gap allows for repaints on a loaded 2-core CI machine.
P95_GAP_MS = 150
MAX_GAP_MS = 2000
# Generous on purpose: on a 2-core CI machine the worker's start-up competes with the window
# (measured here: p95 14-54 ms, worst 161-760 ms). These catch a window that blocks on every
# event or freezes for seconds; figures are reported, not asserted tightly (see bench/).


@pytest.fixture
def window(qtbot, tmp_path, math_rows):
    from gui.app import MainWindow

    w = MainWindow(tmp_path / "jobs.db")
    qtbot.addWidget(w)
    w.show()
    data = write_jsonl(tmp_path / "d.jsonl", math_rows)
    setup = w.setup_view
    setup.name.setText("gui-job")
    setup.data.set_values({"path": str(data), "fields": {"solution": "solution",
                                                         "answer": "answer"}})
    setup.stages.forms["echo"].fields["delay_s"][0].setText("0.2")  # 10 items: ~2 s of echo
    return w


def test_a_job_from_setup_streams_into_the_monitor_and_the_window_stays_responsive(qtbot, window):
    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append((now - last[0]) * 1000)
        last[0] = now

    timer = QTimer(interval=10)
    timer.timeout.connect(tick)
    timer.start()
    qtbot.mouseClick(window.setup_view.side.run_button, qtbot_left())
    assert window.supervisor is not None and window.cancel_button.isEnabled()
    assert window.stack.currentWidget() is window.monitor_view
    qtbot.waitUntil(lambda: window.monitor_view.stage_rows.get("echo") is not None
                    and window.monitor_view.stage_rows["echo"].bar.value() >= 3, timeout=30_000)
    assert "echo" in window.job_label.text() and "/10" in window.job_label.text()
    qtbot.waitUntil(lambda: window.supervisor is None, timeout=60_000)
    timer.stop()
    ticks = sorted(gaps[5:])  # the first ticks include the click that validates and starts
    p95, worst = ticks[int(0.95 * len(ticks))], ticks[-1]
    print(f"event-loop gaps while a job ran: p95 {p95:.0f} ms, worst {worst:.0f} ms "
          f"over {len(ticks)} ticks of 10 ms")
    assert p95 < P95_GAP_MS and worst < MAX_GAP_MS
    monitor = window.monitor_view
    assert window.job_label.text() == "Run 1 completed"
    assert monitor.stage_rows["echo"].bar.value() == 10
    assert "completed" in monitor.stage_rows["summary"].info.text()
    assert any(r[:2] == ("accuracy", "0.8") for r in monitor.metric_rows())
    log = monitor.log.toPlainText()
    assert "run 1 started: gui-job" in log and "completed: all stages finished" in log
    window.show_page("Traces")  # traces written by the job appear without a manual refresh
    assert window.traces_view.model.rowCount() == 10


def qtbot_left():
    from PySide6.QtCore import Qt

    return Qt.MouseButton.LeftButton


def test_cancel_then_resume_from_the_monitor(qtbot, window):
    window.setup_view.run()
    monitor = window.monitor_view
    qtbot.waitUntil(lambda: "echo" in monitor.stage_rows
                    and monitor.stage_rows["echo"].bar.value() >= 2, timeout=30_000)
    qtbot.mouseClick(window.cancel_button, qtbot_left())
    qtbot.waitUntil(lambda: window.supervisor is None, timeout=30_000)
    assert window.job_label.text() == "Run 1 cancelled"
    assert monitor._status_of(1) == "cancelled" and monitor.resume_button.isEnabled()
    done_before = monitor.stage_rows["echo"].bar.value()
    assert 2 <= done_before < 10
    qtbot.mouseClick(monitor.resume_button, qtbot_left())
    qtbot.waitUntil(lambda: window.supervisor is None, timeout=60_000)
    assert window.job_label.text() == "Run 1 completed"
    with Store(window.db_path) as store:
        assert runs.get_run(store, 1).status == "completed"
        assert store.one("SELECT COUNT(*) FROM traces")[0] == 10  # every unit exactly once


def test_a_killed_worker_is_shown_as_a_message_and_the_window_survives(qtbot, window):
    window.setup_view.run()
    monitor = window.monitor_view
    qtbot.waitUntil(lambda: "echo" in monitor.stage_rows
                    and monitor.stage_rows["echo"].bar.value() >= 1, timeout=30_000)
    window.supervisor.kill()
    qtbot.waitUntil(lambda: window.supervisor is None, timeout=30_000)
    assert window.isVisible() and window.job_label.text() == "Run 1 failed"
    assert monitor.banner.isVisibleTo(monitor)
    text = monitor.banner_text.text()
    assert "killed by signal 9" in text and "Fix:" in text and "Resume" in text
    assert monitor._status_of(1) == "interrupted" and monitor.resume_button.isEnabled()
    window.show_page("Traces")  # the window still works
    assert window.traces_view.model.rowCount() >= 1
