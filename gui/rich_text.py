"""Markdown and code as the rich text Qt shows: markdown-it-py renders the markdown, and
Pygments colours fenced code (inline styles, so a QTextBrowser needs no style sheet).

Traces and the item panel use it; so the editorial's sections, a reply's lists and a
program read as they would on a page, code in monospace with syntax colour.
"""

from __future__ import annotations

import re
from functools import lru_cache

from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer, TextLexer, get_lexer_by_name
from pygments.util import ClassNotFound

from gui.theme import current_theme

MONO = "font-family: 'DejaVu Sans Mono', 'Menlo', 'Consolas', monospace"


def _pre(body: str) -> str:
    # Qt's rich text honours white-space on block elements; <pre> keeps indentation
    return f"<pre style=\"{MONO}; margin: 2px 0\">{body}</pre>"


def code_html(code: str, language: str = "python") -> str:
    """One block of code in monospace with syntax colour (Pygments, inline styles)."""
    try:
        lexer = get_lexer_by_name(language) if language else PythonLexer()
    except ClassNotFound:
        lexer = TextLexer()
    style = "monokai" if current_theme() == "dark" else "default"
    formatter = HtmlFormatter(noclasses=True, nowrap=True, style=style)
    return _pre(highlight(code.rstrip("\n"), lexer, formatter))


def _fence(code: str, lang: str, _attrs: str) -> str:
    return code_html(code, lang.strip().split(" ")[0] if lang else "python")


@lru_cache(maxsize=1)
def _md() -> MarkdownIt:
    # commonmark + tables and strikethrough; raw HTML in a model's output is shown, not run
    return MarkdownIt("commonmark", {"html": False, "highlight": _fence}).enable(
        ["table", "strikethrough"])


@lru_cache(maxsize=4096)
def _markdown_cached(text: str, theme: str) -> str:  # theme: part of the cache key
    out = _md().render(text)
    # Qt gives <p> 12 px margins and headings their page size: too much inside a table cell
    out = out.replace("<p>", "<p style='margin:0 0 4px 0'>")
    for level in range(1, 7):
        out = out.replace(f"<h{level}>", "<p style='font-weight:600; margin:4px 0'>") \
                 .replace(f"</h{level}>", "</p>")
    return out


def markdown_html(text: str) -> str:
    """Markdown as HTML for a QTextBrowser; fenced code coloured, headings kept small."""
    return _markdown_cached(text, current_theme())


_CODE_START = re.compile(r"^\s*(def |class |import |from \S+ import |#include|public )")


def looks_like_code(text: str) -> bool:
    """A bare program (no fences): a reference solution stored as code."""
    return "```" not in text and (bool(_CODE_START.match(text)) or bool(
        re.search(r"\n(    |\t)\S", text) and re.search(r"[:{;]\s*\n", text)))


def text_or_code_html(text: str) -> str:
    """A bare program as coloured code, anything else as markdown (an item's fields)."""
    return code_html(text) if looks_like_code(text) else markdown_html(text)
