"""ELAD's page ("Rounds"): one round's selection and one item's revision, in one widget.

Top: a run picker (the project's ELAD runs with a finished round; with none, a note saying
how to get one), a round picker, the round's accuracy with its 95% CI and the teacher's tokens (Yes/No
calls and rewrites apart). Middle: a revised item's chain, the student's steps beside the
teacher's revision, aligned step by step; each student step has the teacher's Yes/No badge,
the first No is highlighted, the correct prefix (kept as the student wrote it) is shown once,
in green rows whose revision column says so, and a small bar marks the steps whose removal
changed the student's answer (the intra-uncertainty). Bottom: the histogram of the round's
scores, the selected items' scores marked. Reads ``engine.paradigms.elad.history``; imports no torch.
"""

from __future__ import annotations

import html
import sys
from pathlib import Path

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from engine.paradigms.elad.history import (
    Point,
    Revision,
    RoundSummary,
    accuracy_curve,
    revisions,
    round_numbers,
    round_summary,
)
from engine.store import Store
from gui.run_picker import RunPage, RunPicker
from gui.theme import style_plots

RUNS = ("SELECT r.id, r.name, COUNT(t.id) FROM runs r JOIN traces t ON t.run_id = r.id "
        "WHERE r.paradigm = 'elad' AND t.stage = 'rounds' AND t.role = 'selection' "
        "GROUP BY r.id ORDER BY r.id DESC")
EMPTY = ("<b>No ELAD run with a finished round in this project.</b><br><br>This page shows an "
         "ELAD run round by round: the student's chain beside the teacher's revision, the "
         "Yes/No of each step, the score histogram and the accuracy curve.<br>Start one on "
         "<i>Setup</i> (paradigm <i>elad</i>) or run <code>distillab demo elad</code>; its rounds "
         "show here once the first one has chosen its items.")
FIRST_NO = "#ffe3e3"
KEPT = "#ebfbee"
BADGES = {"correct": ("Yes", "#2f9e44"), "wrong": ("No", "#e03131"),
          "unjudged": ("not checked", "#868e96"), "none": ("", "#868e96")}


def _badge(verdict: str) -> str:
    word, colour = BADGES[verdict]
    return f"<b style='color:{colour}'>{word}</b>" if word else ""


def _bar(changed: bool | None) -> str:
    if changed is None:
        return "<span style='color:#868e96'>-</span>"
    colour, width = ("#f08c00", 40) if changed else ("#ced4da", 8)
    tip = "dropping it changed the answer" if changed else "answer unchanged without it"
    return (f"<table cellspacing=0 cellpadding=0 title='{tip}'><tr><td bgcolor='{colour}' "
            f"width={width} height=6></td></tr></table>")


def revision_html(rev: Revision) -> str:
    """The student's chain and the teacher's revision side by side, step by step."""
    head = (f"<b>item {rev.item_id}</b> &nbsp; {html.escape(rev.kind.replace('_', ' '))}"
            + (f", first No at step {rev.first_no}" if rev.first_no else "")
            + (f" &nbsp; <i style='color:#e03131'>{html.escape(rev.flag)}</i>" if rev.flag
               else "")
            + "<br><small>intra: an orange bar marks a step whose removal changed the "
              "student's answer; green rows are the correct prefix, kept as written</small>")
    rows = ["<tr><th width=40>step</th><th>student</th><th>teacher's check</th><th>intra</th>"
            "<th>revision</th></tr>"]
    for row in rev.rows:
        student = html.escape(row.student or "")
        if row.kept:  # the correct prefix: once, the revision keeps it as written
            rows.append(f"<tr style='background-color:{KEPT}'><td>{row.number}</td>"
                        f"<td>{student}</td><td>{_badge(row.verdict)}</td>"
                        f"<td>{_bar(row.changed_answer)}</td>"
                        "<td><small>kept as the student wrote it</small></td></tr>")
            continue
        shade = f" style='background-color:{FIRST_NO}'" if row.number == rev.first_no else ""
        rows.append(f"<tr{shade}><td>{row.number}</td><td>{student}</td>"
                    f"<td>{_badge(row.verdict)}</td><td>{_bar(row.changed_answer)}</td>"
                    f"<td>{html.escape(row.revised or '')}</td></tr>")
    rows.append(f"<tr><td></td><td><i>{html.escape(rev.student_answer or '(no answer)')}</i>"
                f"</td><td></td><td></td><td><i>{html.escape(rev.revised_answer or '')}</i>"
                "</td></tr>")
    return f"{head}<table border=1 cellspacing=0 cellpadding=4 width='100%'>{''.join(rows)}" \
           "</table>"


def histogram(scores: list[float], bins: int = 12) -> tuple[list[float], list[int]]:
    """Bin edges and counts over [min, max] (one bin when all scores are equal)."""
    if not scores:
        return [0.0, 1.0], [0]
    lo, hi = min(scores), max(scores)
    if hi <= lo:
        return [lo - 0.5, lo + 0.5], [len(scores)]
    width = (hi - lo) / bins
    counts = [0] * bins
    for s in scores:
        counts[min(int((s - lo) / width), bins - 1)] += 1
    return [lo + i * width for i in range(bins + 1)], counts


def _calls(n: float) -> str:
    return f"{n:.0f} call" + ("" if round(n) == 1 else "s")


def summary_text(s: RoundSummary) -> str:
    m = s.metrics
    acc = m.get("accuracy")
    parts = [f"round {s.round}: {s.method} chose {len(s.selected)} of {len(s.scores)}"]
    if acc is not None:
        parts.append(f"accuracy {acc:.3f} (95% CI {m.get('accuracy_ci_low', 0):.3f}-"
                     f"{m.get('accuracy_ci_high', 0):.3f})")
    if "teacher_tokens_yes" in m:
        parts.append(f"teacher tokens: {m['teacher_tokens_yes']:.0f} Yes/No "
                     f"({_calls(m.get('teacher_calls_yes', 0))}), "
                     f"{m.get('teacher_tokens_rewrite', 0):.0f} rewrites "
                     f"({_calls(m.get('teacher_calls_rewrite', 0))})")
    if "compute_tokens_total" in m:
        parts.append(f"compute so far {m['compute_tokens_total']:.0f} tokens")
    return "; ".join(parts)


class EladView(RunPage):
    """The "Rounds" page: pick an ELAD run, one of its rounds and a revised item."""

    def __init__(self, db_path: Path, run_id: int | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(db_path, RunPicker(RUNS, ("round", "rounds"),
                                            "ELAD run (those with a finished round)",
                                            "No ELAD run with a finished round in this project"),
                         parent)
        self.rounds, self.items = QComboBox(), QComboBox()
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.chain = QTextBrowser()  # the table's cells wrap: no sideways scrolling needed
        self.chain.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.plot = pg.PlotWidget(title="scores of the round's candidates (selected: red)")
        self.plot.setMinimumHeight(170)
        self.plot.setLabel("bottom", "score the selection used")
        self.plot.setLabel("left", "items")
        self.plot.getAxis("bottom").enableAutoSIPrefix(False)
        self.curve = pg.PlotWidget(title="accuracy (95% CI) after each round")
        self.curve.setLabel("left", "accuracy")
        for side in ("bottom", "left"):
            self.curve.getAxis(side).enableAutoSIPrefix(False)
        self.axis = QComboBox()
        for label, key in (("round", "round"), ("teacher tokens so far", "teacher_tokens"),
                           ("total compute tokens so far", "compute_tokens")):
            self.axis.addItem(label, key)
        self.axis.currentIndexChanged.connect(self._curve)
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(QLabel("Round:"))
        top.addWidget(self.rounds)
        top.addWidget(QLabel("Revised item:"))
        top.addWidget(self.items, 1)
        plots = QSplitter(Qt.Orientation.Horizontal)
        plots.addWidget(self.plot)
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Accuracy against:"))
        row.addWidget(self.axis, 1)
        lay.addLayout(row)
        lay.addWidget(self.curve)
        plots.addWidget(box)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.chain)
        split.addWidget(plots)
        split.setSizes([400, 240])
        body = QWidget()
        column = QVBoxLayout(body)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(top)
        column.addWidget(self.summary)
        column.addWidget(split, 1)
        self.place(body, EMPTY)
        self.revs: list[Revision] = []
        self.points: list[Point] = []
        self.rounds.currentIndexChanged.connect(self._round)
        self.items.currentIndexChanged.connect(self._item)
        self.retheme()
        self.reload(run_id)

    def retheme(self) -> None:
        style_plots(self.plot, self.curve)

    def load(self) -> None:
        self.points, self.revs = [], []
        self.rounds.blockSignals(True)
        self.rounds.clear()
        if self.run_id is not None:
            with Store(self.db_path, readonly=True) as store:
                self.points = accuracy_curve(store, self.run_id)
                for r in round_numbers(store, self.run_id):
                    self.rounds.addItem(f"round {r}", r)
        self.rounds.blockSignals(False)
        if self.rounds.count():
            self._round()
        else:
            self.summary.clear()
            self.items.clear()
            self.chain.clear()
            self.plot.clear()
        self._curve()

    def _curve(self) -> None:
        key = str(self.axis.currentData())
        self.curve.clear()
        self.curve.setLabel("bottom", self.axis.currentText())
        if not self.points:
            return
        xs = [float(getattr(p, key)) for p in self.points]
        rounds = [[(x, str(int(x))) for x in xs]] if key == "round" else None
        self.curve.getAxis("bottom").setTicks(rounds)  # whole rounds, not 0.5
        self.curve.plot(xs, [p.accuracy for p in self.points], pen=pg.mkPen("#1971c2", width=2),
                        symbol="o", symbolSize=7)
        for x, p in zip(xs, self.points, strict=True):
            self.curve.plot([x, x], [p.low, p.high], pen=pg.mkPen("#74c0fc", width=2))

    def _round(self) -> None:
        r = int(self.rounds.currentData())
        if self.run_id is None:
            return
        with Store(self.db_path, readonly=True) as store:
            s = round_summary(store, self.run_id, r)
            self.revs = revisions(store, self.run_id, r)
        if s is None:
            return
        self.summary.setText(summary_text(s))
        self.items.blockSignals(True)
        self.items.clear()
        for rev in self.revs:
            self.items.addItem(f"item {rev.item_id}: {rev.kind.replace('_', ' ')}")
        self.items.blockSignals(False)
        self._item()
        self._histogram(s)

    def _histogram(self, s: RoundSummary) -> None:
        self.plot.clear()
        edges, counts = histogram(list(s.scores.values()))
        width = edges[1] - edges[0]
        self.plot.addItem(pg.BarGraphItem(x=[e + width / 2 for e in edges[:-1]], height=counts,
                                          width=width * 0.9, brush="#a5d8ff"))
        step = max(1, -(-max(counts) // 5))  # whole items, at most ~6 ticks
        self.plot.getAxis("left").setTicks([[(k, str(k)) for k in range(0, max(counts) + 1, step)]])
        chosen = [s.scores[i] for i in s.selected if i in s.scores]
        if chosen:  # items with equal scores are stacked, so each selected one shows
            ys = [0.25 * chosen[:k].count(v) for k, v in enumerate(chosen)]
            self.plot.plot(chosen, ys, pen=None, symbol="t1", symbolSize=12,
                           symbolBrush="#e03131", symbolPen="#e03131")

    def _item(self) -> None:
        i = self.items.currentIndex()
        self.chain.setHtml(revision_html(self.revs[i]) if 0 <= i < len(self.revs) else
                           "no revised item in this round")


if __name__ == "__main__":  # preview: python -m gui.elad_view DB [RUN_ID]
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv)
    view = EladView(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else None)
    view.resize(1200, 850)
    view.show()
    sys.exit(app.exec())
