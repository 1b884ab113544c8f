"""Screenshots of the Runs, Traces (a code item and a math item) and Compare views of a
project, for docs/shots/: ``python bench/gui_shots.py --db P --out DIR``.

It picks the views' contents itself: Runs shows each run; Traces shows the item of the
first coder trace (a code item) and of the first trace with "Step 1" in it (a math item);
Compare ticks every run, then only the first. Run it offscreen (QT_QPA_PLATFORM=offscreen)
or under Xvfb (xvfb-run -a ...); each PNG is the main window at 1280x800.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from engine.store import Store, runs
from gui.app import MainWindow
from gui.theme import apply_theme


def _first(db: Path, sql: str) -> tuple[int, int] | None:
    with Store(db, readonly=True) as store:
        row = store.one(sql)
    return (int(row[0]), int(row[1])) if row else None


def _show_trace(window: MainWindow, app: QApplication, trace: tuple[int, int]) -> None:
    trace_id, run_id = trace
    view = window.traces_view
    view.run_box.setCurrentIndex(max(0, view.run_box.findData(run_id)))
    app.processEvents()
    while view.model.canFetchMore() and all(r.id != trace_id for r in view.model.rows):
        view.model.fetchMore()
    row = next(i for i, r in enumerate(view.model.rows) if r.id == trace_id)
    view.table.selectRow(row)
    view.table.scrollTo(view.model.index(row, 0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--prefix", default="")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication(sys.argv[:1])
    apply_theme(app, "light")
    window = MainWindow(args.db)
    window.resize(1280, 800)
    window.show()

    def shot(name: str) -> None:
        for _ in range(5):
            app.processEvents()
        path = args.out / f"{args.prefix}{name}.png"
        window.grab().save(str(path))
        print(path)

    with Store(args.db, readonly=True) as store:
        run_ids = [r.id for r in runs.list_runs(store)]
    window.show_page("Runs")
    for run_id in sorted(run_ids):
        window.monitor_view.show_run(run_id)
        shot(f"runs-{run_id}")
    window.show_page("Traces")
    code = _first(args.db, "SELECT id, run_id FROM traces WHERE role = 'coder' "
                           "AND output LIKE '%```%' ORDER BY id LIMIT 1")
    math = _first(args.db, "SELECT id, run_id FROM traces WHERE output LIKE '%Step 1%' "
                           "ORDER BY id LIMIT 1")
    for name, trace in (("traces-code", code), ("traces-math", math)):
        if trace is not None:
            _show_trace(window, app, trace)
            shot(name)
    window.show_page("Compare")
    view = window.compare_view
    for i in range(view.runs_list.count()):
        view.runs_list.item(i).setCheckState(Qt.CheckState.Checked)
    shot("compare-all")
    for i in range(1, view.runs_list.count()):
        view.runs_list.item(i).setCheckState(Qt.CheckState.Unchecked)
    shot("compare-one")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
