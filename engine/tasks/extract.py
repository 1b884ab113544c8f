"""Answer extraction helpers shared by the task kinds: numbers, ``\\boxed{}``, MATH normalisation.

Pure string work plus an optional sympy equivalence check; knows nothing of data sets,
models or the store.
"""

from __future__ import annotations

import re
from fractions import Fraction

# 1,234.5  -3  .5  2/3 (a fraction stays one token); commas only as thousands separators
_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:/\d+)?(?![\w])")
_ANSWER_IS = re.compile(
    r"(?:the\s+)?(?:final\s+)?answer\s*(?:is|:|=)\s*:?\s*\**\s*(.+)", re.IGNORECASE)


def numbers(text: str) -> list[str]:
    """Numbers in ``text`` in order, commas dropped (``"1,234"`` -> ``"1234"``)."""
    found = []
    for m in _NUMBER.finditer(text):
        token = m.group(0)
        if token and any(ch.isdigit() for ch in token):
            found.append(token.replace(",", ""))
    return found


def last_number(text: str) -> str | None:
    found = numbers(text)
    return found[-1] if found else None


def answer_is(text: str) -> str | None:
    """What follows the last "The answer is" / "Answer:" (up to the end of that line)."""
    matches = list(_ANSWER_IS.finditer(text))
    if not matches:
        return None
    return matches[-1].group(1).splitlines()[0].strip().rstrip(".").strip() or None


def to_number(text: str) -> Fraction | None:
    """A number written plainly (``"1,234"``, ``"-0.50"``, ``"3/4"``, ``"$5"``, ``"20%"``) as an
    exact fraction, or None."""
    t = text.strip().replace(",", "").replace("$", "").rstrip("%").strip()
    try:
        return Fraction(t)
    except (ValueError, ZeroDivisionError):
        return None


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), braces balanced; also
    ``\\boxed 5``."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = start + (6 if text.startswith("\\boxed", start) else 5)
    if i < len(text) and text[i] == " ":  # \boxed 5
        m = re.match(r"\s*([^\s$]+)", text[i:])
        return m.group(1) if m else None
    if i >= len(text) or text[i] != "{":
        return None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1:j]
    return None  # unbalanced: the output was cut off


def _fix_fracs(s: str) -> str:
    """``\\frac12`` -> ``\\frac{1}{2}``, ``\\frac1{72}`` -> ``\\frac{1}{72}``."""
    parts = s.split("\\frac")
    out = parts[0]
    for part in parts[1:]:
        out += "\\frac"
        if part.startswith("{") or len(part) < 2:
            out += part
            continue
        a, rest = part[0], part[1:]
        if rest.startswith("{"):
            out += "{" + a + "}" + rest
        else:
            out += "{" + a + "}{" + rest[0] + "}" + rest[1:]
    return out


def _fix_sqrt(s: str) -> str:
    return re.sub(r"\\sqrt(\w)", r"\\sqrt{\1}", s)


def normalize_math(answer: str) -> str:
    """Canonical form of a MATH answer for string comparison (after Hendrycks et al.'s
    ``strip_string``, plus units, ``\\text{}``, and trailing ``.0``)."""
    s = answer.strip().replace("\n", "").replace("\\!", "").replace(" ", "")
    s = re.sub(r"\\(?:d|t)frac", r"\\frac", s)
    s = s.replace("\\left", "").replace("\\right", "")
    s = s.replace("\\$", "").replace("$", "").replace("\\%", "").replace("%", "")
    s = re.sub(r"\^\s*\{?\\circ\}?", "", s).replace("\\circ", "").replace("°", "")
    s = re.sub(r"\\text\{\s*[a-zA-Z ]*(?:units?|cm|meters?|inches|feet|degrees?|dollars?|"
               r"cents?|hours?|minutes?|seconds?|mph|square|sq)[a-zA-Z ]*\}", "", s)
    s = re.sub(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}", r"\1", s)
    s = s.replace("\\,", "").replace("\\;", "").replace("\\ ", "").replace("~", "")
    s = s.replace(" ", "").rstrip(".")
    if re.fullmatch(r"[a-zA-Z]\w*=[^=]+", s) and len(s.split("=")[0]) <= 2:
        s = s.split("=", 1)[1]  # "x=5" -> "5"
    s = _fix_sqrt(_fix_fracs(s))
    if s.startswith("."):
        s = "0" + s
    s = re.sub(r"(?<=\d)\.0+(?!\d)", "", s)  # 5.0 -> 5, 2.50 stays 2.50 (numeric check below)
    s = re.sub(r"(\d),(?=\d{3}(?!\d))", r"\1", s)  # 1,000 -> 1000
    return s


def _plain_number(s: str) -> Fraction | None:
    """A number, or a simple ``\\frac{a}{b}`` of integers, as an exact fraction."""
    m = re.fullmatch(r"(-?)\\frac\{(-?\d+)\}\{(\d+)\}", s)
    if m:
        return to_number(f"{m.group(1)}{m.group(2)}/{m.group(3)}") if m.group(3) != "0" else None
    return to_number(s)


def _latex_to_sympy_text(s: str) -> str:
    """A small LaTeX -> sympy-syntax rewrite for the expressions MATH answers use."""
    t = s
    for _ in range(5):  # nested fractions and roots, innermost first
        t = re.sub(r"\\frac\{([^{}]*)\}\{([^{}]*)\}", r"((\1)/(\2))", t)
        t = re.sub(r"\\sqrt\[([^\]]*)\]\{([^{}]*)\}", r"((\2)**(1/(\1)))", t)
        t = re.sub(r"\\sqrt\{([^{}]*)\}", r"sqrt(\1)", t)
    t = t.replace("\\cdot", "*").replace("\\times", "*").replace("\\pi", "pi")
    t = t.replace("\\infty", "oo").replace("^", "**").replace("{", "(").replace("}", ")")
    return t


def _sympy_value(s: str) -> object | None:
    from sympy.parsing.sympy_parser import (
        implicit_multiplication_application,
        parse_expr,
        standard_transformations,
    )

    text = _latex_to_sympy_text(s)
    if "\\" in text or len(text) > 120:  # LaTeX we do not handle, or too long to trust
        return None
    try:
        value: object = parse_expr(text, transformations=(*standard_transformations,
                                                          implicit_multiplication_application),
                                   evaluate=True)
    except Exception:  # sympy raises many kinds on malformed input
        return None
    return value


def math_equal(prediction: str, gold: str) -> bool:
    """Equivalent MATH answers: same normal form, same number, or sympy says so."""
    a, b = normalize_math(prediction), normalize_math(gold)
    if a == b:
        return True
    na, nb = _plain_number(a), _plain_number(b)
    if na is not None and nb is not None:
        return abs(float(na) - float(nb)) <= 1e-6 * max(1.0, abs(float(nb)))
    if a.count(",") != b.count(","):  # tuples / intervals of different lengths
        return False
    if "," in a:
        pa, pb = a.strip("()[]").split(","), b.strip("()[]").split(",")
        return a[:1] + a[-1:] == b[:1] + b[-1:] and all(
            math_equal(x, y) for x, y in zip(pa, pb, strict=True))
    va, vb = _sympy_value(a), _sympy_value(b)
    if va is None or vb is None:
        return False
    try:
        import sympy

        diff = sympy.simplify(va - vb)  # type: ignore[operator]
        return bool(diff == 0)
    except Exception:
        return False
