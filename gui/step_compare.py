"""The side-by-side view of two or three traces of one item, aligned step by step.

Draws an ``engine.browse.Comparison`` as one rich-text table: a column per trace, a row
per aligned step (gaps left empty), a verdict badge per step, the first wrong step of
each trace highlighted, steps as rendered markdown with code in monospace and syntax colour
(gui.rich_text), a word-level diff against the first column inside aligned steps of traces
of the same kind (engine.browse.compare_traces decides), and per-step metrics (e.g.
log-PPL) as small bars scaled over the whole comparison; beside the teacher's badge, the
latest human label (``[✓ ann]``, its note and typed correction) and a *disagrees with the
teacher* mark; the selected step framed (the one keys 1/2/3 label). One
QTextBrowser instead of a widget per cell keeps a 50-step comparison well under 100 ms.
"""

from __future__ import annotations

import html
import sys

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QTextBrowser

from engine.browse import Cell, Comparison, wrong_rows
from engine.labels import KEYS
from gui.rich_text import MONO, markdown_html
from gui.theme import colours

BAR_CHARS = 8  # a full metric bar, in block characters


def _badge(verdict: str) -> str:
    c = colours()
    mark, colour = {"correct": ("✓", c.correct), "wrong": ("✗", c.wrong)}.get(
        verdict, ("·", c.unknown))
    return (f"<span style='background:{colour}; color:white; font-weight:bold'>"
            f"&nbsp;{mark}&nbsp;</span>")


HUMAN_MARK = {"correct": "✓", "wrong": "✗", "unsure": "?"}


def _human(cell: Cell) -> str:
    """The person's label beside the teacher's verdict (both kept), and a disagreement."""
    if cell.label is None:
        return ""
    c = colours()
    colour = {"correct": c.correct, "wrong": c.wrong}.get(cell.label.label, c.unknown)
    who = html.escape(cell.label.author.removeprefix("human:"))
    note = f" — {html.escape(cell.label.note)}" if cell.label.note else ""
    if cell.label.correction:
        note += f" — instead: <i>{html.escape(cell.label.correction)}</i>"
    out = (f" <span style='color:{colour}; font-weight:bold'>"
           f"[{HUMAN_MARK[cell.label.label]} {who}]</span>"
           f"<span style='color:{c.muted}'>{note}</span>")
    if cell.disagrees:
        out += (f" <span style='background:{c.wrong}; color:white; font-weight:bold'>"
                "&nbsp;disagrees with the teacher&nbsp;</span>")
    return out


def _is_code(cell: Cell) -> bool:
    return cell.kind == "code" or cell.text.lstrip().startswith(("```", "~~~"))


def _diff_html(cell: Cell) -> str:
    """A step as a person reads it: markdown rendered, code coloured; a step with a word
    diff keeps its raw text (line breaks kept, code in monospace) with the diff marked."""
    c = colours()
    if cell.diff is None or all(op == "equal" for op, _ in cell.diff):
        return markdown_html(cell.text)
    parts = []
    for op, text in cell.diff:
        esc = html.escape(text)
        if op == "equal":
            parts.append(esc)
        elif op == "insert":
            parts.append(f"<span style='background:{c.insert}'>{esc}</span>")
        else:
            parts.append(f"<span style='background:{c.delete}; text-decoration:line-through'>"
                         f"{esc}</span>")
    body = "".join(parts)
    if _is_code(cell):
        return f"<pre style=\"{MONO}; margin: 2px 0\">{body}</pre>"
    return f"<div style='white-space: pre-wrap'>{body}</div>"


def _short(model: str | None) -> str:
    """A model name without its folder (a local student path is long and says little)."""
    return (model or "?").rstrip("/").rsplit("/", 1)[-1]


def _bars(cell: Cell, ranges: dict[str, tuple[float, float]]) -> str:
    """Metrics as bars of block characters (eighths): far cheaper to lay out than tables."""
    c = colours()
    out = []
    for name, value in sorted(cell.metrics.items()):
        if not isinstance(value, int | float):
            continue
        low, high = ranges.get(name, (0.0, float(value)))
        share = 1.0 if high <= low else (float(value) - low) / (high - low)
        eighths = max(1, round(share * BAR_CHARS * 8))
        bar = "█" * (eighths // 8) + ("", "▏", "▎", "▍", "▌", "▋", "▊", "▉")[eighths % 8]
        out.append(f"<br><span style='color:{c.bar}'>{bar}</span>"
                   f"<span style='color:{c.muted}; font-size:small'> {html.escape(name)} "
                   f"{float(value):.2f}</span>")
    return "".join(out)


def comparison_html(comp: Comparison, current_row: int | None = None,
                    selected: tuple[int, int] | None = None) -> str:
    c = colours()
    n = len(comp.traces)
    width = f"{int(95 / max(n, 1))}%"
    head = [f"<th width='5%' style='color:{c.muted}' title='row · similarity'>#</th>"]
    for col, t in enumerate(comp.traces):
        wrong = comp.first_wrong_row[col]
        verdict = f" · {_badge(t.verdict)} {html.escape(t.verdict)}" if t.verdict else ""
        first = (f"<br><span style='color:{c.wrong}'>first wrong step: row {wrong + 1}</span>"
                 if wrong is not None else "")
        kind = comp.kinds[col] if col < len(comp.kinds) else "text"
        where = t.stage if kind == t.stage else f"{t.stage} · {kind}"
        head.append(f"<th width='{width}' align='left'>{html.escape(t.role)} "
                    f"<span style='color:{c.muted}; font-weight:normal'>· {html.escape(where)} · "
                    f"{html.escape(_short(t.model))} · "
                    f"{f'run {t.run_id} · trace {t.id}' if t.id else 'not saved yet'}"
                    f"</span>{verdict}{first}</th>")
    rows = ["<tr>" + "".join(head) + "</tr>"]
    for r, cells in enumerate(comp.rows):
        marker = "▶" if r == current_row else str(r + 1)
        sim = comp.similarity[r]
        num_bg = f" bgcolor='{c.accent}' style='color:white'" if r == current_row else ""
        parts = [f"<td{num_bg} valign='top'><a name='row{r}'></a><b>{marker}</b><br>"
                 f"<span style='color:{c.muted}; font-size:x-small; white-space:nowrap'>"
                 f"{f'{sim:.1f}' if sim else ''}</span></td>"]
        for col, cell in enumerate(cells):
            if cell is None:
                parts.append(f"<td style='color:{c.muted}' valign='top'>—</td>")
                continue
            is_first = comp.first_wrong_row[col] == r
            bg = f" bgcolor='{c.wrong_row}'" if is_first else ""
            if selected == (r, col):
                bg = f" style='border: 3px solid {c.accent}'"
            first = (f" <span style='color:{c.wrong}; font-weight:bold'>first wrong step</span>"
                     if is_first else "")
            kind = "" if cell.kind == "step" else f" <i>{html.escape(cell.kind)}</i>"
            parts.append(
                f"<td{bg} valign='top'><a href='cell:{r}:{col}' style='text-decoration:none'>"
                f"{_badge(cell.verdict)}</a> "
                f"<span style='color:{c.muted}'>step {cell.index + 1}</span>{kind}{first}"
                f"{_human(cell)}"
                f"{_diff_html(cell)}{_bars(cell, comp.metric_ranges)}</td>")
        rows.append("<tr>" + "".join(parts) + "</tr>")
    return (f"<table width='100%' cellspacing='0' cellpadding='6' border='1' "
            f"style='border-color:{c.muted}; border-collapse:collapse'>" + "".join(rows) +
            "</table>")


class StepCompareView(QTextBrowser):
    """Shows one Comparison; ``next_wrong`` / ``previous_wrong`` move between wrong steps.

    One step is *selected* (a click on its badge, or the arrow keys: up/down a row,
    left/right a column); keys 1/2/3 emit ``label_key`` with correct / wrong / unsure."""

    selection_changed = Signal()
    label_key = Signal(str)

    def __init__(self) -> None:
        super().__init__()
        self.comparison: Comparison | None = None
        self.current_row: int | None = None
        self.selected: tuple[int, int] | None = None
        self.setOpenLinks(False)
        self.anchorClicked.connect(self._clicked)
        # a scroll bar that comes and goes makes Qt lay the table out twice (~20 ms more)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.setPlaceholderText("Select a trace to lay the traces of its item side by side.")

    def show_comparison(self, comp: Comparison, keep_selection: bool = False) -> None:
        """Show ``comp``; the first step of the first trace is selected unless
        ``keep_selection`` (a redraw after a label) and that cell still exists."""
        self.comparison = comp
        firsts = [r for r in comp.first_wrong_row if r is not None]
        if not keep_selection:
            self.current_row = min(firsts) if firsts else None
        if not (keep_selection and self.selected and self.cell(*self.selected)):
            self.selected = next(((r, 0) for r, cells in enumerate(comp.rows)
                                  if cells and cells[0] is not None), None)
        self._render()
        self.selection_changed.emit()

    def cell(self, row: int, col: int) -> Cell | None:
        comp = self.comparison
        if comp is None or not 0 <= row < len(comp.rows) or not 0 <= col < len(comp.rows[row]):
            return None
        return comp.rows[row][col]

    def selected_cell(self) -> Cell | None:
        return self.cell(*self.selected) if self.selected else None

    def select(self, row: int, col: int) -> None:
        if self.cell(row, col) is None:
            return
        self.selected = (row, col)
        self._render(scroll_to=row)
        self.selection_changed.emit()

    def move_selection(self, rows: int = 0, cols: int = 0) -> None:
        """To the next step below/above (``rows``) or the next column (``cols``), skipping gaps."""
        if self.comparison is None or self.selected is None:
            return
        r, c = self.selected
        n_rows, n_cols = len(self.comparison.rows), len(self.comparison.traces)
        while True:
            r, c = r + rows, c + cols
            if not (0 <= r < n_rows and 0 <= c < n_cols):
                return
            if self.cell(r, c) is not None:
                self.select(r, c)
                return

    def _clicked(self, url: QUrl) -> None:
        parts = url.toString().split(":")
        if len(parts) == 3 and parts[0] == "cell":
            self.select(int(parts[1]), int(parts[2]))

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key, mods = event.key(), event.modifiers()
        plain = mods in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier)
        moves = {Qt.Key.Key_Down: (1, 0), Qt.Key.Key_Up: (-1, 0), Qt.Key.Key_Right: (0, 1),
                 Qt.Key.Key_Left: (0, -1)}
        if plain and event.text() in KEYS:
            self.label_key.emit(KEYS[event.text()])
        elif plain and key in moves:
            self.move_selection(*moves[Qt.Key(key)])
        else:
            super().keyPressEvent(event)

    def _render(self, scroll_to: int | None = None) -> None:
        if self.comparison is None:
            self.clear()
            return
        bar = self.verticalScrollBar().value()
        self.setHtml(comparison_html(self.comparison, self.current_row, self.selected))
        if scroll_to is not None:
            self.verticalScrollBar().setValue(bar)
            self.scrollToAnchor(f"row{scroll_to}")
        elif self.current_row is not None:
            self.scrollToAnchor(f"row{self.current_row}")

    def _move(self, direction: int) -> int | None:
        if self.comparison is None:
            return None
        wrong = wrong_rows(self.comparison)
        if not wrong:
            return None
        at = -1 if self.current_row is None else self.current_row
        ahead = [r for r in wrong if (r > at if direction > 0 else r < at)]
        if ahead:
            self.current_row = ahead[0] if direction > 0 else ahead[-1]
        else:  # wrap around
            self.current_row = wrong[0] if direction > 0 else wrong[-1]
        self._render()
        return self.current_row

    def next_wrong(self) -> int | None:
        return self._move(+1)

    def previous_wrong(self) -> int | None:
        return self._move(-1)


if __name__ == "__main__":
    from pathlib import Path

    from PySide6.QtWidgets import QApplication

    from engine.browse import compare_traces
    from engine.store import Store
    from gui.sample_data import make_sample_project

    app = QApplication(sys.argv)
    db = Path("/tmp/distillab-compare-preview.db")
    ids = make_sample_project(db) if not db.exists() else {
        "teacher_trace": 31, "student_trace": 32, "reviser_trace": 33}
    with Store(db) as store:
        comparison = compare_traces(store, [ids["teacher_trace"], ids["student_trace"],
                                            ids["reviser_trace"]])
    view = StepCompareView()
    view.show_comparison(comparison)
    view.resize(1200, 600)
    view.show()
    sys.exit(app.exec())
