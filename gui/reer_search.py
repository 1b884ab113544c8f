"""REER's page ("Search"): one item's search history and the thinking's leaks of the answer.

Top: a run picker (the project's REER runs with a searched item; with none, a note saying
how to get one) and an item picker; under them the versions of z the search held as its
best (z0, then each accepted edit) side by side, segment by segment, each segment with a
bar of the score change its accepted edit brought (green: lower score, the answer more
predictable); the segment an edit changed is highlighted. Middle: the score per iteration
(every candidate as a dot, the best so far as a line). Bottom: z* and the reference answer
with the runs of words z* copies from the answer highlighted in both. Reads
``engine.paradigms.reer.history``; imports no torch.
"""

from __future__ import annotations

import html
import sys
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QLabel,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from engine.paradigms.reer.history import History, Version, search_history, searched_items
from engine.paradigms.reer.leakage import Span
from engine.store import Store
from gui.run_picker import RunPage, RunPicker
from gui.theme import style_plots

RUNS = ("SELECT r.id, r.name, COUNT(t.id) FROM runs r JOIN traces t ON t.run_id = r.id "
        "WHERE r.paradigm = 'reer' AND t.stage = 'search' AND t.role = 'z-star' "
        "GROUP BY r.id ORDER BY r.id DESC")
EMPTY = ("<b>No REER run with a searched item in this project.</b><br><br>This page shows "
         "one item's search for the thinking z that makes the reference answer most "
         "predictable: the versions of z side by side with each segment's score change, the "
         "score per iteration, and the runs of words z* copies from the answer.<br>Start one "
         "on <i>Setup</i> (paradigm <i>reer</i>) or run <code>distillab demo reer</code>; an "
         "item shows here once its search has ended.")
BAR_PX = 120  # the widest bar: the largest score change of the item
EDITED = "#fff3bf"
COPIED = "#ffc9c9"


def version_html(version: Version, scale: float) -> str:
    """One version's segments, each with its score-change bar; the edited one highlighted."""
    parts = [f"<b>{html.escape(version.label)}</b> &nbsp; score {version.score:.3f}<br>"]
    for k, (text, delta) in enumerate(zip(version.segments, version.deltas, strict=True)):
        width = int(BAR_PX * min(1.0, abs(delta) / scale)) if scale > 0 and delta else 0
        colour = "#2f9e44" if delta < 0 else "#e03131"
        bar = (f"<table cellspacing=0 cellpadding=0><tr><td bgcolor='{colour}' width={width}"
               f" height=6></td><td>&nbsp;{delta:+.3f}</td></tr></table>") if width else \
            "<span style='color:#868e96'>&nbsp;no change</span>"
        shade = f" style='background-color:{EDITED}'" if version.edited == k else ""
        parts.append(f"<div{shade}><small>segment {k + 1}</small>{bar}"
                     f"<p>{html.escape(text).replace(chr(10), '<br>')}</p></div>")
    return "".join(parts)


def highlighted(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` as HTML with the character spans marked."""
    out, at = [], 0
    for lo, hi in sorted(spans):
        if lo < at:
            lo = at
        if hi <= lo:
            continue
        out += [html.escape(text[at:lo]),
                f"<span style='background-color:{COPIED}'>{html.escape(text[lo:hi])}</span>"]
        at = hi
    out.append(html.escape(text[at:]))
    return "".join(out).replace("\n", "<br>")


def leak_spans(spans: list[Span]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    return [(s.z_start, s.z_end) for s in spans], [(s.y_start, s.y_end) for s in spans]


class ReerSearchView(RunPage):
    """The "Search" page: pick a REER run and one of its items; see its search and its leaks."""

    def __init__(self, db_path: Path, run_id: int | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(db_path, RunPicker(RUNS, ("item searched", "items searched"),
                                            "REER run (those with a finished search)",
                                            "No REER run with a searched item in this project"),
                         parent)
        self.items = QComboBox()
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.versions = QSplitter(Qt.Orientation.Horizontal)
        self.plot = pg.PlotWidget(title="score per iteration: line = best so far, x = each "
                                        "candidate (lower: the answer more predictable)")
        self.plot.setMinimumHeight(160)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.plot.setLabel("bottom", "iteration: the segment it edited (z0: before the search)")
        self.plot.setLabel("left", "score")
        self.retheme()
        self.z_text, self.y_text = QTextBrowser(), QTextBrowser()
        self.bar.addWidget(QLabel("Item:"))
        self.bar.addWidget(self.items, 1)
        leaks = QSplitter(Qt.Orientation.Horizontal)
        for title, view in (("z* (copied runs marked)", self.z_text),
                            ("reference answer y", self.y_text)):
            box = QWidget()
            lay = QVBoxLayout(box)
            lay.setContentsMargins(0, 0, 0, 0)
            lay.addWidget(QLabel(f"<b>{title}</b>"))
            lay.addWidget(view)
            leaks.addWidget(box)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.versions)
        split.addWidget(self.plot)
        split.addWidget(leaks)
        split.setSizes([420, 170, 220])
        body = QWidget()
        column = QVBoxLayout(body)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.summary)
        column.addWidget(split, 1)
        self.place(body, EMPTY)
        self.history: History | None = None
        self.items.currentIndexChanged.connect(self._show)
        self.reload(run_id)

    def load(self) -> None:
        found: list[tuple[int, float]] = []
        if self.run_id is not None:
            with Store(self.db_path, readonly=True) as store:
                found = searched_items(store, self.run_id)
        self.items.blockSignals(True)
        self.items.clear()
        for item_id, drop in found:
            self.items.addItem(f"item {item_id}  (drop {drop:+.3f})", item_id)
        self.items.blockSignals(False)
        self._show()

    def retheme(self) -> None:
        style_plots(self.plot)

    def _show(self) -> None:
        item_id = self.items.currentData()
        self.history = None
        if self.run_id is not None and item_id is not None:
            with Store(self.db_path, readonly=True) as store:
                self.history = search_history(store, self.run_id, int(item_id))
        while self.versions.count():
            self.versions.widget(0).setParent(None)
        self.plot.clear()
        if self.history is None:
            for view in (self.z_text, self.y_text):
                view.clear()
            self.summary.clear()
            return
        h = self.history
        scale = max((abs(d) for v in h.versions for d in v.deltas), default=0.0)
        for version in h.versions:
            view = QTextBrowser()
            view.setHtml(version_html(version, scale))
            self.versions.addWidget(view)
        xs = [0.0] + [float(i.segment + 1) for i in h.iterations]
        best = [h.versions[0].score] + [i.best for i in h.iterations]
        self.plot.plot(xs, best, pen=pg.mkPen("#1971c2", width=2), symbol="o", symbolSize=6)
        dots = [(float(i.segment + 1), s) for i in h.iterations for s in i.candidates]
        if dots:
            self.plot.plot([x for x, _ in dots], [y for _, y in dots], pen=None, symbol="x",
                           symbolSize=8, symbolPen=pg.mkPen("#e8590c", width=2))
        self.plot.getAxis("bottom").setTicks(
            [[(x, "z0" if x == 0 else f"segment {int(x)}") for x in sorted(set(xs))]])
        z_spans, y_spans = leak_spans(h.spans)
        self.z_text.setHtml(highlighted(h.z_star, z_spans))
        self.y_text.setHtml(highlighted(h.answer, y_spans))
        longest = h.spans[0].words if h.spans else 0
        self.summary.setText(f"{len(h.versions) - 1} accepted edit(s) in {len(h.iterations)} "
                             f"iteration(s); score {h.versions[0].score:.3f} → "
                             f"{h.versions[-1].score:.3f}; {len(h.spans)} copied run(s), "
                             f"longest {longest} words")


if __name__ == "__main__":  # preview: python -m gui.reer_search DB [RUN_ID]
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    view = ReerSearchView(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else None)
    view.resize(1300, 900)
    view.show()
    sys.exit(app.exec())
