"""The run picker of the paradigm pages (Pairs, Mistakes, Rounds, Search), and their empty state.

- ``RunPicker``: a combo box of the project's runs that have something for a page to show,
  newest first, each as "run 7 · name · 12 pairs"; the query says which runs and what to
  count. Refilling keeps the run that was picked (or the one asked for) when it is still
  listed. With no run listed the box shows the page's empty text as its placeholder.
  ``with_empty_state`` puts a page's body and a note (why there is nothing to show, and how
  to get something: run the paradigm) on a stack, and refilling shows whichever applies.
- ``RunPage``: a page made of "Run:", the picker and more pickers on top, then the body or
  the note; ``reload`` refills the picker, and the page draws the picked run in ``load``.

Reads the store it is given; no model library.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from engine.store import Store


class RunPicker(QComboBox):
    """Runs listed by ``query``: rows of (run id, run name, how many of ``nouns``), where
    ``nouns`` is (one, many), e.g. ("pair", "pairs")."""

    def __init__(self, query: str, nouns: tuple[str, str], tooltip: str, empty: str) -> None:
        super().__init__()
        self.query, self.nouns, self.empty = query, nouns, empty
        self.setToolTip(tooltip)
        self.setPlaceholderText(empty)
        self.setMinimumContentsLength(30)
        self.pages: QStackedWidget | None = None

    def with_empty_state(self, body: QWidget, note: str) -> QStackedWidget:
        """``body`` on page 0 and ``note`` (rich text) on page 1: refilling shows the body
        when a run is listed, the note when none is."""
        pages = QStackedWidget()
        label = QLabel(note)
        label.setObjectName("empty-state")
        label.setWordWrap(True)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        label.setStyleSheet("QLabel { font-size: 14px; padding: 40px; }")
        pages.addWidget(body)
        pages.addWidget(label)
        self.pages = pages
        return pages

    def refill(self, source: Store | Path, prefer: int | None = None) -> None:
        """List the runs again, without signals, from a store or a project file (read
        only); pick ``prefer`` if listed, else the run picked before if still listed, else
        the newest."""
        if isinstance(source, Path):
            with Store(source, readonly=True) as store:
                return self.refill(store, prefer)
        store = source
        before = self.run_id()
        self.blockSignals(True)
        self.clear()
        for run_id, name, n in store.query(self.query):
            noun = self.nouns[0] if n == 1 else self.nouns[1]
            self.addItem(f"run {run_id} · {name} · {n} {noun}", int(run_id))
        listed = [self.findData(r) for r in (prefer, before) if r is not None]
        self.setCurrentIndex(next((i for i in listed if i >= 0), 0 if self.count() else -1))
        self.blockSignals(False)
        if self.pages is not None:
            self.pages.setCurrentIndex(0 if self.count() else 1)

    def run_id(self) -> int | None:
        data = self.currentData()
        return None if data is None else int(data)

    def select(self, run_id: int | None) -> bool:
        """Pick ``run_id`` if it is listed (emits currentIndexChanged); False if it is not."""
        at = self.findData(run_id) if run_id is not None else -1
        if at >= 0:
            self.setCurrentIndex(at)
        return at >= 0


class RunPage(QWidget):
    """A page of one run at a time: ``bar`` (the run picker first) on top, then the body, or
    the note while no run is listed. A subclass builds its body and its own pickers, calls
    ``place`` with them, and draws ``self.run_id`` (None: nothing) in ``load``."""

    def __init__(self, db_path: Path, picker: RunPicker, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.db_path = db_path
        self.run_id: int | None = None
        self.run_box = picker
        self.run_box.currentIndexChanged.connect(self._picked)
        self.bar = QHBoxLayout()
        self.bar.addWidget(QLabel("Run:"))
        self.bar.addWidget(picker, 1)

    def place(self, body: QWidget, note: str) -> None:
        self.pages = self.run_box.with_empty_state(body, note)
        layout = QVBoxLayout(self)
        layout.addLayout(self.bar)
        layout.addWidget(self.pages, 1)

    def reload(self, prefer: int | None = None) -> None:
        """List the runs again (``prefer``: the run to show, if listed) and draw the picked one."""
        self.run_box.refill(self.db_path, prefer)
        self._picked()

    def _picked(self) -> None:
        self.run_id = self.run_box.run_id()
        self.load()

    def load(self) -> None:
        raise NotImplementedError
