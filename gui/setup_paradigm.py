"""The paradigm part of Setup: a card per registered paradigm (gui.paradigm_card), and
the stage-parameter forms generated from the chosen paradigm's stage specs
(engine.paradigms). Both read the paradigm table only; which default recipe a click
opens is the Setup view's business.
"""

from __future__ import annotations

import sys
from typing import Any

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QGridLayout, QGroupBox

from engine.paradigms import PARADIGMS
from gui.forms import ModelForm
from gui.paradigm_card import MIN_WIDTH, ParadigmCard


class ParadigmCards(QGroupBox):
    """The cards in as many columns (one to three) as fit the width Setup gives the box.

    Its minimum width is one card's, so a narrow window reflows the cards into fewer,
    wider columns instead of pushing the Setup column into a horizontal scroll."""

    chosen = Signal(str)  # a card was clicked: the paradigm's name
    MAX_COLUMNS = 3

    def __init__(self) -> None:
        super().__init__("Paradigm")
        self.grid = QGridLayout(self)
        self.cards: dict[str, ParadigmCard] = {}
        for paradigm in PARADIGMS.values():
            card = ParadigmCard(paradigm)
            card.clicked.connect(self.chosen.emit)
            self.cards[paradigm.name] = card
        self.columns = 0
        self._reflow(self.MAX_COLUMNS)

    def _frame_width(self) -> int:
        """Pixels of the box's width that are not cards' (frame and layout margins)."""
        inner, outer = self.grid.contentsMargins(), self.contentsMargins()
        return inner.left() + inner.right() + outer.left() + outer.right()

    def _fitting_columns(self, width: int) -> int:
        spacing = max(0, self.grid.horizontalSpacing())
        fit = (width - self._frame_width() + spacing) // (MIN_WIDTH + spacing)
        return max(1, min(self.MAX_COLUMNS, fit))

    def _reflow(self, columns: int) -> None:
        if columns == self.columns:
            return
        self.columns = columns
        for card in self.cards.values():
            self.grid.removeWidget(card)
        for i, card in enumerate(self.cards.values()):
            self.grid.addWidget(card, i // columns, i % columns)
        for c in range(self.MAX_COLUMNS):
            self.grid.setColumnStretch(c, 1 if c < columns else 0)

    def resizeEvent(self, event: QResizeEvent) -> None:
        self._reflow(self._fitting_columns(event.size().width()))
        super().resizeEvent(event)

    def minimumSizeHint(self) -> QSize:
        """One card wide, so the cards never set the Setup column's minimum width."""
        hint = super().minimumSizeHint()
        return QSize(min(hint.width(), MIN_WIDTH + self._frame_width()), hint.height())

    def set_selected(self, name: str) -> None:
        for n, card in self.cards.items():
            card.set_selected(n == name)


class StageForms(QGroupBox):
    """One generated form per stage of the chosen paradigm, three to a row."""

    def __init__(self) -> None:
        super().__init__("Stage parameters")
        self.grid = QGridLayout(self)
        self.forms: dict[str, ModelForm] = {}

    def show_paradigm(self, name: str) -> list[ModelForm]:
        """Replace the forms with those of paradigm ``name``; returns the new forms."""
        while self.grid.count():
            item = self.grid.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.hide()  # deleteLater acts later; the old forms must vanish now
                widget.deleteLater()
        self.forms = {}
        for i, spec in enumerate(PARADIGMS[name].stages):
            form = ModelForm(spec.params, f"stages.{spec.name}", spec.name)
            form.setToolTip(spec.help)
            self.forms[spec.name] = form
            self.grid.addWidget(form, i // 3, i % 3, Qt.AlignmentFlag.AlignTop)
        return list(self.forms.values())

    def values(self) -> dict[str, Any]:
        """The recipe's ``stages`` mapping: only stages with a value set."""
        stages = {name: form.values() for name, form in self.forms.items()}
        return {k: v for k, v in stages.items() if v}

    def set_values(self, stages: dict[str, Any]) -> None:
        for name, form in self.forms.items():
            form.set_values(stages.get(name) or {})


if __name__ == "__main__":
    from PySide6.QtWidgets import QApplication, QVBoxLayout, QWidget

    from gui.theme import apply_theme

    app = QApplication(sys.argv)
    apply_theme(app, "light")
    window = QWidget()
    column = QVBoxLayout(window)
    cards, stages = ParadigmCards(), StageForms()
    cards.chosen.connect(lambda name: (cards.set_selected(name), stages.show_paradigm(name)))
    column.addWidget(cards)
    column.addWidget(stages)
    cards.chosen.emit(next(iter(PARADIGMS)))
    window.resize(1000, 900)
    window.show()
    sys.exit(app.exec())
