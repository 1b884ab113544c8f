"""The run picker of the paradigm pages (Pairs, Mistakes, Rounds, Search), and their empty state.

- ``RunPicker``: a combo box of the project's runs that have something for a page to show,
  newest first, each as "run 7 · name · 12 pairs"; the query says which runs and what to
  count. Refilling keeps the run that was picked (or the one asked for) when it is still
  listed. With no run listed the box shows the page's empty text as its placeholder.
- ``with_empty_state``: a page body, or a note saying why there is nothing to show and how to
  get something (run the paradigm), whichever applies.

Reads the store it is given; no model library.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QLabel, QStackedWidget, QWidget

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

    def refill(self, store: Store, prefer: int | None = None) -> None:
        """List the runs again, without signals; pick ``prefer`` if listed, else the run
        picked before if still listed, else the newest."""
        keep = prefer if prefer is not None and self.findData(prefer) >= 0 else self.run_id()
        self.blockSignals(True)
        self.clear()
        for run_id, name, n in store.query(self.query):
            noun = self.nouns[0] if n == 1 else self.nouns[1]
            self.addItem(f"run {run_id} · {name} · {n} {noun}", int(run_id))
        at = self.findData(keep) if keep is not None else -1
        self.setCurrentIndex(at if at >= 0 else 0 if self.count() else -1)
        self.blockSignals(False)

    def run_id(self) -> int | None:
        data = self.currentData()
        return None if data is None else int(data)

    def select(self, run_id: int | None) -> bool:
        """Pick ``run_id`` if it is listed (emits currentIndexChanged); False if it is not."""
        at = self.findData(run_id) if run_id is not None else -1
        if at >= 0:
            self.setCurrentIndex(at)
        return at >= 0


def with_empty_state(body: QWidget, note: str) -> QStackedWidget:
    """``body`` on page 0 and ``note`` (rich text) on page 1; the page shows one or the other."""
    pages = QStackedWidget()
    label = QLabel(note)
    label.setObjectName("empty-state")
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setStyleSheet("QLabel { font-size: 14px; padding: 40px; }")
    pages.addWidget(body)
    pages.addWidget(label)
    return pages
