"""Screenshots of the training cockpit (Runs) and the Playground, from a project that holds
a run trained with a probe set (e.g. the lab-sized cot run described in README.md).

    python docs/shots/cockpit/shots.py PROJECT.db OUT_DIR [RUN_ID]

Offscreen (QT_QPA_PLATFORM=offscreen) it grabs the two pages as widgets; under Xvfb
(xvfb-run ... with QT_QPA_PLATFORM=xcb) it grabs the whole main window from the screen.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtWidgets import QApplication

from gui.app import MainWindow
from gui.theme import apply_theme


def settle(app: QApplication, seconds: float = 0.5) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def grab(app: QApplication, window: MainWindow, path: Path) -> None:
    settle(app)
    if app.platformName() == "offscreen":
        window.grab().save(str(path))
    else:
        screen = window.screen()
        screen.grabWindow(window.winId()).save(str(path))
    print("wrote", path)


def main() -> None:
    db, out = Path(sys.argv[1]), Path(sys.argv[2])
    run_id = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    app = QApplication(sys.argv[:1])
    tag = "offscreen" if app.platformName() == "offscreen" else "xvfb"
    apply_theme(app, "light")
    window = MainWindow(db)
    window.resize(1500, 1050)
    window.show()
    window.show_page("Runs")
    monitor = window.monitor_view
    monitor.show_run(run_id)
    monitor.curve_controls.smoothing.setValue(0.6)
    line = monitor.probe.line
    if line is not None and len(line.checkpoints) > 2:
        monitor.probe.pick(line.checkpoints[len(line.checkpoints) // 2])
    monitor._redraw()
    grab(app, window, out / f"runs-cockpit-{tag}.png")
    monitor.curve_controls.log_scale.setChecked(True)
    monitor.curve_controls.clip.setChecked(True)
    monitor._redraw()
    grab(app, window, out / f"runs-cockpit-log-clip-{tag}.png")

    window.show_page("Playground")
    view = window.playground_view
    view.run.setCurrentIndex(view.run.findData(run_id))
    index = next(i for i in range(view.item.count()) if view.item.itemText(i).startswith("test"))
    view.item.setCurrentIndex(index)
    view.item.activated.emit(index)
    view.max_tokens.setValue(80)
    view.ask()
    end = time.monotonic() + 300
    while view.job is not None and time.monotonic() < end:
        settle(app, 0.2)
    view._align()
    grab(app, window, out / f"playground-{tag}.png")


if __name__ == "__main__":
    main()
