"""Traces: a table of traces paged from SQLite (filters by run, stage, role, passed/failed,
verdict, wrong steps, and search) over a side-by-side, step-by-step comparison of two or
three traces of the selected trace's item.

Above the comparison, the item's full problem and gold answer (rendered markdown,
collapsible). The partners ticked by default mean something (engine.browse.default_partners:
the same role in other runs, or student vs teacher; never a bookkeeping trace); word diffs
are drawn only between traces of the same kind unless *Word diff across kinds* is ticked.

Above the table, the query bar (gui.query_bar: engine.query's language, saved slices);
under the comparison, the label bar (gui.label_bar): the selected step is marked correct /
wrong / unsure with keys 1/2/3 and stored through a writable connection (engine.labels),
beside the teacher's verdict; F9 opens the next unlabelled wrong-answer trace.

The table model fetches 200 rows at a time with keyset paging (``fetchMore``), so 100k
traces open as fast as 100. Keyboard: Ctrl+Down / Ctrl+Up next / previous item,
F8 / Shift+F8 next / previous wrong step, F9 next trace to label; in the comparison,
arrows move the selected step and 1/2/3 label it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, QTimer
from PySide6.QtGui import QColor, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTableView,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine import browse, labels
from engine.errors import DistillabError
from engine.label_export import export_labels
from engine.store import Store
from gui.label_bar import LabelBar
from gui.query_bar import QueryBar
from gui.rich_text import text_or_code_html
from gui.settings import label_author
from gui.step_compare import StepCompareView
from gui.theme import colours

PAGE = 200
MAX_COMPARED = 3
PROBLEM_MAX_PX = 160  # the item panel's height at most; a longer problem scrolls
COLUMNS = ["id", "run", "stage", "role", "item", "model", "verdict", "steps", "output"]
AnyIndex = QModelIndex | QPersistentModelIndex


class TracesModel(QAbstractTableModel):
    """Rows of ``engine.browse.page_rows``, fetched page by page as the view scrolls."""

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self.filter = browse.TraceFilter()
        self.rows: list[browse.TraceRow] = []
        self._more = True

    def set_filter(self, f: browse.TraceFilter) -> None:
        self.beginResetModel()
        self.filter = f
        self.rows = browse.page_rows(self.store, f, limit=PAGE)
        self._more = len(self.rows) == PAGE
        self.endResetModel()

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def canFetchMore(self, parent: AnyIndex = QModelIndex()) -> bool:  # noqa: B008
        return not parent.isValid() and self._more

    def fetchMore(self, parent: AnyIndex = QModelIndex()) -> None:  # noqa: B008
        if parent.isValid() or not self._more:
            return
        after = self.rows[-1].id if self.rows else 0
        page = browse.page_rows(self.store, self.filter, after_id=after, limit=PAGE)
        self._more = len(page) == PAGE
        if page:
            self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows) + len(page) - 1)
            self.rows += page
            self.endInsertRows()

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal:
            return COLUMNS[section]
        return None

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self.rows[index.row()]
        col = COLUMNS[index.column()]
        if role == Qt.ItemDataRole.DisplayRole:
            value = {"id": row.id, "run": row.run_id, "stage": row.stage, "role": row.role,
                     "item": row.item_id, "model": row.model, "verdict": row.verdict,
                     "steps": row.n_steps, "output": row.preview}[col]
            return "" if value is None else str(value)
        if role == Qt.ItemDataRole.ForegroundRole and col == "verdict" and row.verdict:
            c = colours()
            return QColor({"correct": c.correct, "wrong": c.wrong}.get(row.verdict, c.unknown))
        if role == Qt.ItemDataRole.ToolTipRole and col == "output":
            return row.preview
        return None


class TracesView(QWidget):
    def __init__(self, db_path: Path) -> None:
        super().__init__()
        self.db_path = db_path
        # labels and slices are written through their own connection (which also brings an
        # older project up to the schema with step_labels); reads stay read-only
        self.writer = Store(db_path)
        self.store = Store(db_path, readonly=True)
        self.item_id: int | None = None
        self.compared: list[int] = []

        bar = QHBoxLayout()
        self.run_box = QComboBox()
        self.stage_box = QComboBox()
        self.role_box = QComboBox()
        self.passed_box = QComboBox()
        self.passed_box.addItems(["passed or failed", "passed", "failed"])
        self.verdict_box = QComboBox()
        self.verdict_box.setEditable(True)
        self.verdict_box.addItems(["any verdict", "correct", "wrong", "unknown"])
        self.wrong_box = QComboBox()
        self.wrong_box.addItems(["any steps", "has a wrong step", "no wrong step"])
        self.disagree_box = QComboBox()
        self.disagree_box.addItems(["any labels", "human ≠ teacher", "no disagreement"])
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search outputs…")
        self.search.setClearButtonEnabled(True)
        self.count = QLabel()
        self.count.setObjectName("muted")
        for w, tip in ((self.run_box, "Run"), (self.stage_box, "Stage"), (self.role_box, "Role"),
                       (self.passed_box, "Evaluation of the trace"),
                       (self.verdict_box, "Trace verdict"), (self.wrong_box, "Step verdicts"),
                       (self.disagree_box, "Traces where a human label differs from the "
                                           "teacher's verdict of the step")):
            w.setToolTip(tip)
            bar.addWidget(w)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.count)

        self.query_bar = QueryBar(self.writer)
        self.model = TracesModel(self.store)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setAlternatingRowColors(True)
        for col, width in enumerate((60, 40, 80, 80, 50, 140, 70, 50)):
            self.table.setColumnWidth(col, width)

        compare_panel = QWidget()
        cv = QVBoxLayout(compare_panel)
        cv.setContentsMargins(0, 0, 0, 0)
        nav = QHBoxLayout()
        self.prev_item = QPushButton("◀ Previous item")
        self.prev_item.setToolTip("Ctrl+Up")
        self.next_item = QPushButton("Next item ▶")
        self.next_item.setToolTip("Ctrl+Down")
        self.next_wrong_button = QPushButton("Next wrong step")
        self.next_wrong_button.setToolTip("F8 (Shift+F8: previous)")
        self.item_label = QLabel("Select a trace.")
        self.item_label.setWordWrap(True)
        nav.addWidget(self.prev_item)
        nav.addWidget(self.next_item)
        nav.addWidget(self.next_wrong_button)
        nav.addWidget(self.item_label, 1)
        self.diff_any = QCheckBox("Word diff across kinds")
        self.diff_any.setToolTip("Word diffs are drawn only between traces of the same kind "
                                 "(prose with prose, code with code); tick to draw them anyway.")
        nav.addWidget(self.diff_any)
        cv.addLayout(nav)
        self.problem_toggle = QToolButton()
        self.problem_toggle.setCheckable(True)
        self.problem_toggle.setChecked(True)
        self.problem_toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.problem_toggle.setArrowType(Qt.ArrowType.DownArrow)
        self.problem_toggle.setText("Problem and gold answer")
        self.problem_toggle.setAutoRaise(True)
        self.problem = QTextBrowser()
        self.problem.setOpenExternalLinks(False)
        self.problem.setMaximumHeight(PROBLEM_MAX_PX)
        self.problem.setPlaceholderText("Select a trace to see its item's problem.")
        cv.addWidget(self.problem_toggle)
        cv.addWidget(self.problem)
        row = QHBoxLayout()
        self.choices = QListWidget()
        self.choices.setMaximumWidth(260)
        self.choices.setToolTip(f"Tick up to {MAX_COMPARED} traces of this item to compare.")
        self.steps = StepCompareView()
        row.addWidget(self.choices)
        row.addWidget(self.steps, 1)
        cv.addLayout(row, 1)
        self.label_bar = LabelBar()
        cv.addWidget(self.label_bar)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(compare_panel)
        split.setSizes([260, 520])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(bar)
        layout.addWidget(self.query_bar)
        layout.addWidget(split, 1)

        # the label count waits until the table has painted (0.3 s on 100k traces)
        self._counts_timer = QTimer(self, singleShot=True, interval=150)
        self._counts_timer.timeout.connect(self.show_counts)
        self._search_timer = QTimer(self, singleShot=True, interval=300)
        self._search_timer.timeout.connect(self.apply_filter)
        self.search.textChanged.connect(lambda _: self._search_timer.start())
        for box in (self.stage_box, self.role_box, self.passed_box, self.verdict_box,
                    self.wrong_box, self.disagree_box):
            box.currentIndexChanged.connect(self.apply_filter)
        verdict_edit = self.verdict_box.lineEdit()
        if verdict_edit is not None:
            verdict_edit.editingFinished.connect(self.apply_filter)
        self.run_box.currentIndexChanged.connect(self._run_changed)
        self.table.selectionModel().selectionChanged.connect(self._selected)
        self.choices.itemChanged.connect(self._choices_changed)
        self.diff_any.toggled.connect(lambda _: self.compare(self.compared))
        self.problem_toggle.toggled.connect(self._toggle_problem)
        self.prev_item.clicked.connect(lambda: self.step_item(-1))
        self.next_item.clicked.connect(lambda: self.step_item(+1))
        self.next_wrong_button.clicked.connect(self.steps.next_wrong)
        self.query_bar.applied.connect(lambda _: self.apply_filter())
        self.steps.selection_changed.connect(self._show_selected)
        self.steps.label_key.connect(self.label_selected)
        self.label_bar.label_clicked.connect(self.label_selected)
        self.label_bar.next_clicked.connect(self.next_to_label)
        self.label_bar.export_clicked.connect(self.export)
        for keys, slot in (("Ctrl+Down", lambda: self.step_item(+1)),
                           ("Ctrl+Up", lambda: self.step_item(-1)),
                           ("F8", self.steps.next_wrong), ("Shift+F8", self.steps.previous_wrong),
                           ("F9", self.next_to_label)):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
        self.reload()

    def _toggle_problem(self, shown: bool) -> None:
        self.problem.setVisible(shown)
        self.problem_toggle.setArrowType(Qt.ArrowType.DownArrow if shown else
                                         Qt.ArrowType.RightArrow)

    def closeEvent(self, event: Any) -> None:
        self._counts_timer.stop()
        self.store.close()
        self.writer.close()
        super().closeEvent(event)

    # -- filters -------------------------------------------------------------------------
    def reload(self) -> None:
        """Re-read the filter choices and the first page (e.g. after a run added traces)."""
        run = self.run_box.currentData()
        choices = browse.filter_choices(self.store)
        self.run_box.blockSignals(True)
        self.run_box.clear()
        self.run_box.addItem("all runs", None)
        for run_id, name in choices.runs:
            self.run_box.addItem(f"run {run_id} · {name}", run_id)
        if run is not None:
            self.run_box.setCurrentIndex(max(0, self.run_box.findData(run)))
        self.run_box.blockSignals(False)
        self._fill_choices(run)
        self.apply_filter()
        self._counts_timer.start()  # after the table's first paint

    def _fill_choices(self, run_id: int | None) -> None:
        choices = browse.filter_choices(self.store, run_id)
        for box, label, values in ((self.stage_box, "all stages", choices.stages),
                                   (self.role_box, "all roles", choices.roles)):
            keep = box.currentText()
            box.blockSignals(True)
            box.clear()
            box.addItem(label)
            box.addItems(values)
            if keep in values:
                box.setCurrentText(keep)
            box.blockSignals(False)

    def _run_changed(self) -> None:
        self._fill_choices(self.run_box.currentData())
        self.apply_filter()
        self.show_counts()

    def current_filter(self) -> browse.TraceFilter:
        def pick(box: QComboBox) -> str | None:
            return box.currentText() if box.currentIndex() > 0 else None

        verdict = self.verdict_box.currentText().strip()
        return browse.TraceFilter(
            run_id=self.run_box.currentData(), stage=pick(self.stage_box),
            role=pick(self.role_box),
            verdict=None if verdict in ("", "any verdict") else verdict,
            passed={1: True, 2: False}.get(self.passed_box.currentIndex()),
            has_wrong_step={1: True, 2: False}.get(self.wrong_box.currentIndex()),
            disagree={1: True, 2: False}.get(self.disagree_box.currentIndex()),
            search=self.search.text().strip() or None,
            query=self.query_bar.edit.text().strip() or None)

    def apply_filter(self) -> None:
        if not self.query_bar.check():  # a broken query keeps the table as it was
            return
        self.model.set_filter(self.current_filter())
        shown = len(self.model.rows)
        self.count.setText(f"{shown}{'+' if self.model.canFetchMore() else ''} traces")

    # -- labels --------------------------------------------------------------------------
    def show_counts(self) -> None:
        """The label count of the run picked (about 0.3 s on 100k traces with 10k labels,
        so after a reload, a run change or a label, never on each filter change)."""
        run = self.run_box.currentData()
        self.label_bar.show_counts(labels.counts(self.store, run),
                                   "all runs" if run is None else f"run {run}")

    def _show_selected(self) -> None:
        cell = self.steps.selected_cell()
        comp = self.steps.comparison
        where = None
        if cell is not None and comp is not None and self.steps.selected is not None:
            trace = comp.traces[self.steps.selected[1]]
            where = f"{trace.role} · trace {trace.id}"
        self.label_bar.show_cell(cell, where)

    def label_selected(self, label: str) -> None:
        """Store the person's mark on the selected step (with the note and correction typed),
        redraw, and move to the next step of the same trace."""
        cell = self.steps.selected_cell()
        if cell is None or cell.step_id is None:
            self.label_bar.info.setText("Select a step of a trace with steps first.")
            return
        try:
            labels.set_label(self.writer, cell.step_id, label, label_author(),
                             note=self.label_bar.note.text(),
                             correction=self.label_bar.correction.text() if label == "wrong"
                             else None)
        except DistillabError as exc:
            self.label_bar.info.setText(f"Not stored: {exc}")
            return
        self.label_bar.note.clear()
        self.label_bar.correction.clear()
        self.compare(self.compared, keep_selection=True)
        self.steps.move_selection(rows=1)
        self.show_counts()

    def next_to_label(self) -> int | None:
        """Open the next wrong-answer trace nobody has labelled (of the run picked)."""
        after = self.compared[0] if self.compared else 0
        trace_id = labels.next_unlabelled(self.store, after, self.run_box.currentData())
        if trace_id is None:
            self.label_bar.info.setText("Nothing left to label: every wrong-answer trace "
                                        "with steps has a label.")
            return None
        row = self.store.one("SELECT item_id FROM traces WHERE id = ?", (trace_id,))
        self.table.clearSelection()
        self.show_item(row[0] if row else None, trace_id)
        self.steps.setFocus()
        return trace_id

    def export(self) -> None:
        run = self.run_box.currentData()
        if run is None:
            self.label_bar.count.setText("Pick a run in the run box to export its labels.")
            return
        try:
            done = export_labels(self.db_path, run)
        except (DistillabError, OSError) as exc:
            self.label_bar.count.setText(f"Export failed: {exc}")
            return
        rows = ", ".join(f"{done.rows[k]} {k}" for k in done.paths)
        skipped = "; ".join(f"{n} skipped: {why}" for why, n in done.skipped.items())
        self.label_bar.count.setText(f"Exported {rows} rows to {done.paths['prm'].parent}"
                                     + (f" ({skipped})" if skipped else ""))

    # -- comparison ----------------------------------------------------------------------
    def _selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            trace = self.model.rows[rows[0].row()]
            self.show_item(trace.item_id, trace.id)

    def show_item(self, item_id: int | None, trace_id: int | None = None) -> None:
        """Lay the traces of an item side by side, starting from ``trace_id`` if given."""
        if item_id is None:
            if trace_id is not None:
                self.compare([trace_id])
            return
        self.item_id = item_id
        siblings = browse.item_traces(self.store, item_id)
        problem, gold = browse.item_problem(browse.item_text(self.store, item_id))
        hidden = sum(t.bookkeeping for t in siblings)
        self.item_label.setText(f"<b>Item {item_id}</b> · {len(siblings)} traces"
                                + (f" ({hidden} bookkeeping, not compared by default)"
                                   if hidden else ""))
        self.problem.setHtml("".join(
            f"<p style='margin:4px 0 2px 0'><b>{title}</b></p>"
            + (text_or_code_html(text) if text else "<p>—</p>")
            for title, text in (("Problem", problem), ("Gold answer", gold))))
        # as tall as the text needs (up to PROBLEM_MAX_PX), so a short problem leaves room
        doc = self.problem.document()
        doc.setTextWidth(max(self.problem.viewport().width(), 400))
        self.problem.setFixedHeight(min(PROBLEM_MAX_PX, int(doc.size().height()) + 8))
        chosen = browse.default_partners(siblings, trace_id, MAX_COMPARED - 1)
        self.choices.blockSignals(True)
        self.choices.clear()
        for t in siblings:
            tag = " · bookkeeping" if t.bookkeeping else f" · {t.kind}"
            entry = QListWidgetItem(f"{t.role} · run {t.run_id} · {t.stage} #{t.id}{tag}")
            entry.setData(Qt.ItemDataRole.UserRole, t.id)
            entry.setFlags(entry.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            entry.setCheckState(Qt.CheckState.Checked if t.id in chosen else
                                Qt.CheckState.Unchecked)
            self.choices.addItem(entry)
        self.choices.blockSignals(False)
        self.compare(chosen)

    def _choices_changed(self) -> None:
        ids = [int(self.choices.item(i).data(Qt.ItemDataRole.UserRole))
               for i in range(self.choices.count())
               if self.choices.item(i).checkState() == Qt.CheckState.Checked]
        if self.compared and self.compared[0] in ids:  # the first column stays the pivot
            ids.remove(self.compared[0])
            ids.insert(0, self.compared[0])
        if len(ids) > MAX_COMPARED:
            self.item_label.setText(f"Tick at most {MAX_COMPARED} traces; showing the first "
                                    f"{MAX_COMPARED}.")
        self.compare(ids[:MAX_COMPARED])

    def compare(self, trace_ids: list[int], keep_selection: bool = False) -> None:
        self.compared = list(trace_ids)
        if not trace_ids:
            self.steps.clear()
            self.steps.comparison = None
            self.steps.selected = None
            self._show_selected()
            return
        comp = browse.compare_traces(self.store, trace_ids,
                                     diff_any_kind=self.diff_any.isChecked())
        self.steps.show_comparison(comp, keep_selection=keep_selection)

    def step_item(self, direction: int) -> None:
        if self.item_id is None:
            return
        nxt = browse.neighbour_item(self.store, self.item_id, direction,
                                    self.run_box.currentData())
        if nxt is not None:
            self.table.clearSelection()
            self.show_item(nxt)


if __name__ == "__main__":
    from PySide6.QtWidgets import QApplication

    from gui.sample_data import make_sample_project
    from gui.theme import apply_theme

    app = QApplication(sys.argv)
    apply_theme(app, "light")
    db = Path("/tmp/distillab-traces-preview.db")
    if not db.exists():
        make_sample_project(db)
    view = TracesView(db)
    view.resize(1300, 850)
    view.show()
    sys.exit(app.exec())
