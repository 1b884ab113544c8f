"""Light and dark themes, the app icon, and the colours the views share (verdict badges, diffs).

One palette per theme on the Fusion style, so every widget follows it; the few colours
the views paint themselves (badges, diff marks, bars) come from ``colours()``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from engine.paths import ASSETS_DIR

if TYPE_CHECKING:
    import pyqtgraph as pg

ICON_PATH = ASSETS_DIR / "icons" / "distillab.svg"


def app_icon() -> QIcon:
    return QIcon(str(ICON_PATH))


@dataclass(frozen=True)
class Colours:
    text: str
    muted: str
    base: str
    panel: str
    correct: str
    wrong: str
    unknown: str
    wrong_row: str
    insert: str
    delete: str
    bar: str
    accent: str


LIGHT = Colours(text="#1d2433", muted="#6b7385", base="#ffffff", panel="#f3f5f9",
                correct="#1f9d6b", wrong="#d6453d", unknown="#8a93a6", wrong_row="#fde8e6",
                insert="#c9f2dc", delete="#f9d0cc", bar="#4f7bd9", accent="#2b5fd9")
DARK = Colours(text="#e3e7f0", muted="#98a1b3", base="#1e2230", panel="#262b3b",
               correct="#3cc48d", wrong="#ff6b60", unknown="#8a93a6", wrong_row="#4a2628",
               insert="#1f4d36", delete="#5a2a2a", bar="#6c96f0", accent="#7aa2ff")

_current = "light"


def rgba(hex_colour: str, alpha: float) -> str:
    """A '#rrggbb' colour with transparency, as CSS rgba() (Qt reads '#xxxxxxxx' as ARGB)."""
    c = QColor(hex_colour)
    return f"rgba({c.red()}, {c.green()}, {c.blue()}, {alpha:g})"


def colours() -> Colours:
    return DARK if _current == "dark" else LIGHT


def style_plots(*plots: pg.PlotWidget) -> None:
    """Plots in the current theme: background, axes, tick labels and title."""
    c = colours()
    for plot in plots:
        plot.setBackground(c.base)
        for axis in ("left", "bottom"):
            plot.getAxis(axis).setTextPen(c.text)
            plot.getAxis(axis).setPen(c.muted)
        title = plot.getPlotItem().titleLabel
        title.setText(title.text, color=c.text)


def current_theme() -> str:
    return _current


def apply_theme(app: QApplication, name: str) -> None:
    """Switch the whole application to 'light' or 'dark'."""
    global _current
    _current = "dark" if name == "dark" else "light"
    c = colours()
    app.setStyle("Fusion")
    pal = QPalette()
    role = QPalette.ColorRole
    pal.setColor(role.Window, QColor(c.panel))
    pal.setColor(role.WindowText, QColor(c.text))
    pal.setColor(role.Base, QColor(c.base))
    pal.setColor(role.AlternateBase, QColor(c.panel))
    pal.setColor(role.Text, QColor(c.text))
    pal.setColor(role.Button, QColor(c.panel))
    pal.setColor(role.ButtonText, QColor(c.text))
    pal.setColor(role.ToolTipBase, QColor(c.base))
    pal.setColor(role.ToolTipText, QColor(c.text))
    pal.setColor(role.Highlight, QColor(c.accent))
    pal.setColor(role.HighlightedText, QColor("#ffffff"))
    pal.setColor(role.PlaceholderText, QColor(c.muted))
    pal.setColor(role.Link, QColor(c.accent))
    app.setPalette(pal)
    app.setStyleSheet(
        f"QGroupBox {{ font-weight: 600; border: 1px solid {rgba(c.muted, 0.35)}; border-radius: 6px;"
        f" margin-top: 12px; padding: 8px 6px 6px 6px; }}"
        f"QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; }}"
        f"QListWidget#nav {{ background: {c.base}; border: none; font-size: 14px; }}"
        f"QListWidget#nav::item {{ padding: 10px 12px; }}"
        f"QListWidget#nav::item:selected {{ background: {c.accent}; color: white;"
        f" border-radius: 6px; }}"
        f"QFrame#card {{ background: {c.base}; border: 1px solid {rgba(c.muted, 0.35)};"
        f" border-radius: 8px; }}"
        f"QFrame#card[selected=\"true\"] {{ border: 2px solid {c.accent}; }}"
        f"QLabel#title {{ font-size: 16px; font-weight: 600; }}"
        f"QLabel#muted {{ color: {c.muted}; }}"
        f"QFrame#banner {{ background: {c.wrong_row}; border: 1px solid {c.wrong};"
        f" border-radius: 6px; }}"
        f"*[invalid=\"true\"] {{ border: 2px solid {c.wrong}; border-radius: 3px; }}"
    )
