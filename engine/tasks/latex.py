"""Clean a LaTeX final answer (MATH style) into a canonical string, before it is read.

``clean(answer)`` removes what never changes the value: math delimiters, ``\\left``/
``\\right``, spacing commands, ``\\$``, ``%``, degree marks, thousands separators
(``2{,}220``, ``14,\\!400``, ``1\\,000``), a leading ``+``, a trailing period, units (any
trailing ``\\text{...}``/``\\mbox{...}``, with ``^2``, or bare trailing words after a
number), and it writes one spelling for what LaTeX spells several ways (``\\dfrac`` =
``\\frac``, ``bmatrix`` = ``pmatrix``, ``\\le`` = ``\\leq``, ``52_{8}`` = ``52_8``).
``text_key`` gives the comparison key of a text answer (``\\text{East}`` -> ``east``).

Pure string work; the structure (lists, intervals, equations) and the value of an answer
are read in :mod:`engine.tasks.mathanswer` and :mod:`engine.tasks.mathexpr`.
"""

from __future__ import annotations

import re

ROW = "\ue000"  # a matrix row break (``\\\\``), kept apart from every other backslash
# words that are mathematics, not units or prose
MATH_WORDS = frozenset({
    "pi", "sqrt", "sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos", "arctan",
    "sinh", "cosh", "tanh", "log", "ln", "exp", "infty", "frac", "mod", "gcd", "lcm",
    "max", "min", "det", "oo", "i", "e"})
_TEXT_CMD = re.compile(r"\\(?:text|mbox|textrm|textbf|textit|textsf|mathrm|mathbf|mathit|"
                       r"mathsf|operatorname|rm|bf)\s*\{")
_UNIT_TAIL = re.compile(r"(?:\s*\\text\{[^{}]*\}(?:\s*\^\s*(?:\{\s*\d\s*\}|\d))?)+\s*$")
_BARE_UNITS = re.compile(r"(?<=[\d}).])\s+([A-Za-z][A-Za-z.]*(?:\s+[A-Za-z][A-Za-z.]*)*)"
                         r"\s*(?:\^\s*\{?\d\}?)?$")
_DEGREES = re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ|\\circ|\\degree|°")
_SIZE = re.compile(r"\\(?:left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|big|Big|bigg|Bigg)"
                   r"(?![A-Za-z])\s*(\.)?")
_UNICODE = {"\u2212": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\ufe63": "-",
            "\uff0d": "-", "\u00d7": "\\times ", "\u00f7": "\\div ", "\u00b7": "\\cdot ",
            "\u22c5": "\\cdot ", "\u221a": "\\sqrt", "\u03c0": "\\pi ", "\u221e": "\\infty ",
            "\u2264": "\\leq ", "\u2265": "\\geq ", "\u2260": "\\neq ", "\u00a0": " ",
            "\u2009": " ", "\u202f": " ", "\u2032": "'"}
_SAME = [(re.compile(p), r) for p, r in (
    (r"\\[dtc]frac(?![A-Za-z])", r"\\frac"),
    (r"\\[dt]binom(?![A-Za-z])", r"\\binom"),
    (r"\\(?:displaystyle|textstyle|scriptstyle|limits|nolimits)(?![A-Za-z])", ""),
    (r"\\(?:le|leqslant)(?![A-Za-z])", r"\\leq"),
    (r"\\(?:ge|geqslant)(?![A-Za-z])", r"\\geq"),
    (r"\\(?:ne)(?![A-Za-z])", r"\\neq"),
    (r"\\(?:lvert|rvert|vert)(?![A-Za-z])", "|"),
    (r"\\(?:dots|ldots|cdots)(?![A-Za-z])", r"\\dots"),
    (r"\\begin\s*\{\s*(?:[bBvVp]?matrix|smallmatrix|array\s*\}\s*\{[^{}]*)\s*\}",
     r"\\begin{pmatrix}"),
    (r"\\end\s*\{\s*(?:[bBvVp]?matrix|smallmatrix|array)\s*\}", r"\\end{pmatrix}"),
)]


def _strip_units(s: str) -> str:
    """Drop a trailing unit: ``\\text{ km}``, ``\\text{ inches}^2``, ``5 cm``, ``9 a.m.``,
    but only after something else (``\\text{(C)}`` alone is the answer)."""
    m = _UNIT_TAIL.search(s)
    if m and m.start() > 0:
        head = s[:m.start()].rstrip()
        if head and head[-1] not in "+-*/^_=,({[" and not head.endswith(("\\cdot", "\\times")):
            s = head
    m = _BARE_UNITS.search(s)
    if m:
        words = [w.strip(".") for w in m.group(1).split()]
        if all(len(w) >= 2 and w.lower() not in MATH_WORDS for w in words):
            s = s[:m.start()]
    return s


_BRACED_COMMA = re.compile(r"\{\s*,\s*\}")
_COMMA_BANG = re.compile(r"(?<=\d)\s*,\s*\\!\s*(?=\d{3}(?!\d))")
_SPACED_NUMBER = re.compile(r"-?\d{1,3}(?:(?:\\,|\\ |\s)\d{3})+(?:\.\d+)?")
_THIN_GAP = re.compile(r"\\,|\\ |\s")


def _thousands(s: str) -> str:
    """Drop thousands separators that cannot be list commas: ``{,}``, ``,\\!``, and ``\\,``
    or spaces between digit groups when the whole answer is that number. A plain ``70,110``
    is left alone: it may be a list (see :mod:`engine.tasks.mathanswer`)."""
    s = _BRACED_COMMA.sub("", s)
    s = _COMMA_BANG.sub("", s)
    if _SPACED_NUMBER.fullmatch(s):
        s = _THIN_GAP.sub("", s)
    return s


_DELIMITERS = re.compile(r"^\\[(\[]|\\[)\]]$")
_SPACING = re.compile(r"\\(?:[,;:> ]|quad|qquad|enspace|thinspace)(?![A-Za-z])|~")
_AND = re.compile(r"\\text\{\s*(?:and|or)\s*\}|(?<=[\w}])\s+(?:and|or)\s+(?=[-\w\\])")
_WHITE = re.compile(r"\s+")
_DIGIT_TEXT = re.compile(r"\\text\{([^{}A-Za-z]*)\}")  # \text{13}: digits are no text
_PLUS = re.compile(r"(^|[(\[{,])\s*\+(?!\s*[,)\]])")  # +\infty, (+1, 2)
_ONE_CHAR = re.compile(r"([_^])\s*\{\s*([A-Za-z0-9])\s*\}")  # 52_{8} = 52_8, x^{2} = x^2
_TRANSLATE = str.maketrans(_UNICODE)


def clean(answer: str) -> str:
    """The canonical spelling of a LaTeX answer (see the module docstring)."""
    s = answer.strip().translate(_TRANSLATE)
    s = s.replace("\\\\", ROW).replace("\n", " ")
    s = _DELIMITERS.sub("", s)
    s = s.replace("\\$", "").replace("$", "").replace("\\%", "").replace("%", "")
    for pattern, repl in _SAME:
        s = pattern.sub(repl, s)
    s = _SIZE.sub("", s)
    s = _DEGREES.sub("", s)
    s = _TEXT_CMD.sub(r"\\text{", s)  # one spelling: \mbox{ in}, \textbf{x} -> \text{...}
    s = _thousands(s.strip())
    s = s.replace("\\!", "")
    s = _SPACING.sub(" ", s)
    s = _AND.sub(",", s)
    s = _WHITE.sub(" ", s).strip()
    s = _thousands(_strip_units(s))
    s = s.rstrip(" .").strip()
    s = _DIGIT_TEXT.sub(r"\1", s)
    s = _PLUS.sub(r"\1", s)
    s = _ONE_CHAR.sub(r"\1\2", s)
    return s.strip()


def has_text(s: str) -> bool:
    """Is this cleaned answer words (``\\text{east}``, ``Monday``, ``\\text{(C)}``)?"""
    if re.search(r"\\text\{[^{}]*[A-Za-z]", s):
        return True
    words = re.findall(r"(?<![\\A-Za-z])[A-Za-z]{3,}", s)
    return bool(words) and re.fullmatch(r"[A-Za-z ,.'-]+", s) is not None and not all(
        w.lower() in MATH_WORDS for w in words)


def text_key(s: str) -> str:
    """What a text answer is compared by: letters and digits, lower-cased
    (``\\text{(C)}`` = ``C``, ``\\text{East}`` = ``east``, ``\\text{June 20}`` = ``June 20``)."""
    s = re.sub(r"\\text\{([^{}]*)\}", r"\1", s)
    return re.sub(r"[^0-9a-z]", "", s.lower())


def squeeze(s: str) -> str:
    """The cleaned answer without spaces: the string compared first."""
    return _WHITE.sub("", s)
