"""A paradigm as a clickable card in Setup: title, one-line description, paper, stages."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout

from engine.paradigms import Paradigm


class ParadigmCard(QFrame):
    """A clickable card: title, one-line description, the paper it comes from."""

    clicked = Signal(str)

    def __init__(self, paradigm: Paradigm) -> None:
        super().__init__()
        self.name = paradigm.name
        self.setObjectName("card")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setMinimumWidth(220)
        layout = QVBoxLayout(self)
        title = QLabel(f"<b>{paradigm.title}</b>  <span style='color:gray'>{paradigm.name}</span>")
        desc = QLabel(paradigm.description)
        desc.setWordWrap(True)
        paper = QLabel(f"<i>{paradigm.paper}</i>")
        paper.setWordWrap(True)
        paper.setObjectName("muted")
        stages = QLabel("stages: " + " → ".join(s.name for s in paradigm.stages))
        stages.setObjectName("muted")
        stages.setWordWrap(True)
        for w in (title, desc, paper, stages):
            layout.addWidget(w)
        self.setToolTip("\n".join(f"{s.name}: {s.help}" for s in paradigm.stages))

    def mousePressEvent(self, event: Any) -> None:
        self.clicked.emit(self.name)

    def set_selected(self, selected: bool) -> None:
        self.setProperty("selected", selected)
        self.style().unpolish(self)
        self.style().polish(self)
