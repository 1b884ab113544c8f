"""Screenshots of the ELAD (Rounds) and REER (Search) pages, for docs/shots/:

    python bench/paradigm_shots.py --out docs/shots [--prefix xvfb-]

Builds a small project (gui/sample_paradigms: an ELAD run of two rounds over 24 pool items,
a REER run with one item searched), opens the main window at 1280x800 and grabs it on
Rounds (round 2, the revised item) -> ``elad_rounds.png`` and on Search -> ``reer_search.png``.
Offscreen (QT_QPA_PLATFORM=offscreen) it grabs the window as a widget; under an X server
(Xvfb, QT_QPA_PLATFORM=xcb) it grabs the window from the screen, as a person would see it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--prefix", default="")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="distillab-paradigm-shots-"))
    os.environ.setdefault("DISTILLAB_HOME", str(folder))  # not the user's recent projects
    args.out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtWidgets import QApplication

    from gui.app import MainWindow
    from gui.sample_paradigms import add_elad_run, add_reer_search
    from gui.theme import apply_theme

    db = folder / "paradigms.db"
    elad = add_elad_run(db, n=24, name="elad-lab")
    reer, _ = add_reer_search(db, name="reer-why")
    app = QApplication(sys.argv[:1])
    apply_theme(app, "light")
    window = MainWindow(db)
    window.resize(1280, 800)
    window.show()

    def shot(name: str) -> None:
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            app.processEvents()
            time.sleep(0.02)
        path = args.out / f"{args.prefix}{name}.png"
        if app.platformName() == "offscreen":
            window.grab().save(str(path))
        else:
            window.screen().grabWindow(window.winId()).save(str(path))
        print(path, path.stat().st_size, "bytes")

    window.show_page("Rounds")
    view = window.rounds_view
    view.run_box.select(elad)
    view.rounds.setCurrentIndex(view.rounds.count() - 1)
    view.items.setCurrentIndex(0)
    shot("elad_rounds")
    window.show_page("Search")
    window.search_view.run_box.select(reer)
    shot("reer_search")
    window.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
