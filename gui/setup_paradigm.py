"""The paradigm part of Setup: a card per registered paradigm (gui.paradigm_card), and
the stage-parameter forms generated from the chosen paradigm's stage specs
(engine.paradigms). Both read the paradigm table only; which default recipe a click
opens is the Setup view's business.
"""

from __future__ import annotations

import sys
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QGridLayout, QGroupBox

from engine.paradigms import PARADIGMS
from gui.forms import ModelForm
from gui.paradigm_card import ParadigmCard


class ParadigmCards(QGroupBox):
    chosen = Signal(str)  # a card was clicked: the paradigm's name

    def __init__(self) -> None:
        super().__init__("Paradigm")
        grid = QGridLayout(self)
        self.cards: dict[str, ParadigmCard] = {}
        for i, paradigm in enumerate(PARADIGMS.values()):
            card = ParadigmCard(paradigm)
            card.clicked.connect(self.chosen.emit)
            self.cards[paradigm.name] = card
            grid.addWidget(card, i // 3, i % 3)

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
