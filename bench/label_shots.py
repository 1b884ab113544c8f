"""Screenshots of labelling and querying in Traces, for docs/shots/labels/:

    python bench/label_shots.py --out DIR [--prefix xvfb-]

Builds a small project (the sample project of gui/sample_data, whose student traces have
wrong answers), then, in the main window at 1280x860: opens the first trace of the label
queue (F9), marks its steps 1 (correct), 1 with a note, 2 (wrong) with a typed correction
-> ``label-view``; filters to human/teacher disagreements -> ``label-queue`` (the count
under the comparison); types a broken query -> ``query-error``; saves a slice and applies
it -> ``query-slice``. Run offscreen (QT_QPA_PLATFORM=offscreen) or under Xvfb
(xvfb-run -a ...). The label author is "ann" (Settings ▸ Your name).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--prefix", default="")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="distillab-label-shots-"))
    os.environ.setdefault("DISTILLAB_HOME", str(folder))
    args.out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from gui.app import MainWindow
    from gui.sample_data import make_sample_project
    from gui.settings import app_settings
    from gui.theme import apply_theme

    db = folder / "labels.db"
    make_sample_project(db)
    app_settings().setValue("label_author", "ann")
    app = QApplication(sys.argv[:1])
    apply_theme(app, "light")
    window = MainWindow(db)
    window.resize(1280, 860)
    window.show()

    def shot(name: str) -> None:
        for _ in range(5):
            app.processEvents()
        path = args.out / f"{args.prefix}{name}.png"
        window.grab().save(str(path))
        print(path)

    window.show_page("Traces")
    view = window.traces_view
    app.processEvents()
    trace = view.next_to_label()
    print(f"label queue opened trace {trace}")
    view.problem_toggle.setChecked(False)  # more room for the steps
    view.steps.setFocus()
    QTest.keyClick(view.steps, Qt.Key.Key_1)
    view.label_bar.note.setText("the sum is right")
    QTest.keyClick(view.steps, Qt.Key.Key_1)
    view.label_bar.correction.setText("so 5 * 6 = 30 in all")
    QTest.keyClick(view.steps, Qt.Key.Key_2)
    view.steps.move_selection(rows=-1)
    shot("label-view")
    view.disagree_box.setCurrentIndex(1)
    shot("label-queue")
    view.disagree_box.setCurrentIndex(0)
    view.query_bar.edit.setText('verdict = wrong and steps > five and text ~ "carry"')
    view.query_bar.apply()
    shot("query-error")
    view.query_bar.edit.setText("role = student and label = any")
    view.query_bar.save_slice("students I labelled")
    view.query_bar.apply()
    shot("query-slice")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
