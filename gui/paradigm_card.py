"""A paradigm as a clickable card in Setup: title, one-line description, paper, stages.

Every line word-wraps, the title too, so a card is as tall as its text needs at the width
the Setup grid gives it (gui.setup_paradigm) and no title is cut off."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout

from engine.paradigms import Paradigm

MIN_WIDTH = 220  # pixels: the narrowest a card gets; the Setup grid fits its columns to it


class ParadigmCard(QFrame):
    """A clickable card: title, one-line description, the paper it comes from."""

    clicked = Signal(str)

    def __init__(self, paradigm: Paradigm) -> None:
        super().__init__()
        self.name = paradigm.name
        self.setObjectName("card")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setMinimumWidth(MIN_WIDTH)
        layout = QVBoxLayout(self)
        self.title = QLabel(
            f"<b>{paradigm.title}</b>&nbsp;&nbsp;<span style='color:gray'>{paradigm.name}</span>"
        )
        self.title.setWordWrap(True)
        desc = QLabel(paradigm.description)
        desc.setWordWrap(True)
        paper = QLabel(f"<i>{paradigm.paper}</i>")
        paper.setWordWrap(True)
        paper.setObjectName("muted")
        stages = QLabel("stages: " + " → ".join(s.name for s in paradigm.stages))
        stages.setObjectName("muted")
        stages.setWordWrap(True)
        for w in (self.title, desc, paper, stages):
            layout.addWidget(w)
        layout.addStretch(1)  # a card stretched to its row's height keeps its text at the top
        self.setToolTip("\n".join(f"{s.name}: {s.help}" for s in paradigm.stages))

    def mousePressEvent(self, event: Any) -> None:
        self.clicked.emit(self.name)

    def set_selected(self, selected: bool) -> None:
        self.setProperty("selected", selected)
        self.style().unpolish(self)
        self.style().polish(self)
