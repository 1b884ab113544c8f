"""The Setup page's paradigm cards at the default (1280x800) and a narrow (1024x700) window:
every title is shown whole, every card lies inside the visible Setup column, none overlap,
and the cards reflow into as many columns as fit."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QApplication

from engine.paradigms import PARADIGMS

pytestmark = pytest.mark.gui


@pytest.fixture
def window(qtbot, qapp, tmp_path, no_leaked_supervisors):
    from gui.app import MainWindow
    from gui.theme import apply_theme

    apply_theme(qapp, "light")
    w = MainWindow(tmp_path / "p.db")
    qtbot.addWidget(w)
    w.show()
    w.show_page("Setup")
    return w


def _settle(window, width: int, height: int) -> None:
    window.resize(width, height)
    for _ in range(10):
        QApplication.processEvents()


@pytest.mark.parametrize("size", [(1280, 800), (1024, 700)])
def test_every_card_title_is_whole_and_inside_the_visible_column(window, size):
    _settle(window, *size)
    view = window.setup_view
    viewport = view.scroll_area.viewport()
    assert view.scroll_area.horizontalScrollBar().maximum() == 0, "Setup column scrolls sideways"
    boxes = []
    for name, card in view.paradigm_cards.cards.items():
        title = card.title
        assert PARADIGMS[name].title in title.text()
        assert title.wordWrap(), name
        assert title.heightForWidth(title.width()) <= title.height(), f"{name}: title cut off"
        top_left = card.mapTo(viewport, QPoint(0, 0))
        box = QRect(top_left, card.size())
        assert box.left() >= 0 and box.right() < viewport.width(), f"{name}: card past the edge"
        assert all(not box.intersects(other) for other in boxes), f"{name}: cards overlap"
        boxes.append(box)


def test_cards_reflow_into_the_columns_that_fit(window):
    cards = window.setup_view.paradigm_cards
    _settle(window, 1024, 700)
    assert cards.columns == 2
    _settle(window, 1900, 1000)
    assert cards.columns == 3
    assert len({card.y() for card in cards.cards.values()}) == -(-len(PARADIGMS) // 3)
    cards.resize(300, cards.height())  # one card wide
    assert cards.columns == 1
