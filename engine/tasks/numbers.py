"""Numbers in prose (GSM8K style): which number is the answer, and is it the gold one.

Reading: the first number after the last ``####``; else after the last "The answer is" /
"Answer:" (the first number there, or the result of a calculation written there:
"The answer is 2 × 9 = $18" reads 18, "The answer is 18 because ... 9 eggs at $2" reads
18); else the last number in the text. A number keeps its sign however it is written
(``-18``, ``−18`` with a Unicode minus, ``-$18``, ``$-18``), its thousands separators
(``1,000,000``; thin or no-break spaces anywhere; plain spaces, ``1 000 000``, only after
an answer marker) and its exponent (``2.0107e-06``, ``1e+16``, ``6.02 × 10^23``). Only
the last ``MAX_READ`` characters of a reply are read.

Comparing: exactly, as fractions, except where a value carries binary noise: a gold given
as a float (``3244047.0999999996`` is the float nearest 3244047.1) or a number written with
15 or more significant digits; those agree within 1e-9 relative. Knows nothing of tasks.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from fractions import Fraction

NOISE = Fraction(1, 10**9)  # relative; doubles carry ~1e-16, sums of a few of them more
MAX_EXPONENT = 400  # 1e400 is not a grade-school answer; 1e99999999 would never end
MAX_READ = 20_000  # characters read from the end of a reply: its answer is there, and the
# time to read stays bounded (100k characters of digits would take half a second)
_THIN = "\u00a0\u2009\u202f"
_DASHES = re.compile(r"(?<![\w.])[\u2012\u2013\u2014](?=\s?\$?\d)")
_EXP = r"(?:[eE][-+]?\d+|\s?(?:\\times|×|x|\*)\s?10\s?\^\s?\{?[-+]?\d+\}?)"


def _pattern(groups: str) -> re.Pattern[str]:
    return re.compile(
        r"(?<![\w.])(?P<s1>-)?\\?\$?(?P<s2>-)?"
        rf"(?P<int>\d{{1,3}}(?:,\d{{3}})+(?![\d])|\d{{1,3}}(?:[{groups}]\d{{3}})+(?![\d,-])|\d+)?"
        r"(?P<frac>\.\d+)?(?:/(?P<den>\d+))?"
        rf"(?P<exp>{_EXP})?(?![\w])")


_NUMBER = _pattern(_THIN)
_NUMBER_SPACED = _pattern(" " + _THIN)  # after an answer marker only
_HASHES = re.compile(r"####[ \t]*([^\n]*)")
_ANSWER_IS = re.compile(
    r"(?:the\s+)?(?:final\s+)?answer\s*(?:is|:|=)\s*:?\s*\**\s*([^\n]*)", re.IGNORECASE)
_OPERATOR = re.compile(r"\s*(?:[-+*/×÷x=]|\\times|\\cdot|\\div)\s*\\?\$?\s*")


@dataclass(frozen=True)
class Number:
    """A number read from text: its value and whether it carries binary noise."""

    value: Fraction
    noisy: bool = False


def _clean(text: str) -> str:
    text = text.replace("\u2212", "-").replace("\ufe63", "-").replace("\uff0d", "-")
    return _DASHES.sub("-", text)


def _tokens(text: str, spaced: bool = False) -> list[re.Match[str]]:
    pattern = _NUMBER_SPACED if spaced else _NUMBER
    return [m for m in pattern.finditer(text) if m.group("int") or m.group("frac")]


def canonical(m: re.Match[str]) -> str:
    """A number match as plain text: ``-$1,234.5`` -> ``-1234.5``, ``6.02 × 10^23`` ->
    ``6.02e23``."""
    sign = "-" if (m.group("s1") or m.group("s2")) else ""
    digits = re.sub(rf"[ ,{_THIN}]", "", m.group("int") or "") + (m.group("frac") or "")
    if m.group("den"):
        digits += "/" + m.group("den")
    exp = m.group("exp")
    if exp:
        power = re.search(r"([-+]?\d+)\}?$", exp)
        digits += "e" + (power.group(1) if power else "0")
    return sign + digits


def numbers(text: str) -> list[str]:
    """Every number in ``text``, in order, as plain text (``"1,234"`` -> ``"1234"``)."""
    return [canonical(m) for m in _tokens(_clean(text))]


def last_number(text: str) -> str | None:
    found = numbers(text)
    return found[-1] if found else None


def _stated(segment: str) -> str | None:
    """The answer in what follows a marker: the first number, or the result of the
    calculation that starts with it (the number after its last ``=``)."""
    found = _tokens(segment, spaced=True)
    if not found:
        return None
    answer = found[0]
    for prev, nxt in itertools.pairwise(found):
        gap = segment[prev.end():nxt.start()]
        signed = not gap.strip() and (nxt.group("s1") or nxt.group("s2"))  # "10 -2 = 8"
        if not (signed or _OPERATOR.fullmatch(gap)):
            break
        if "=" in gap:
            answer = nxt
    return canonical(answer)


def read_answer(text: str) -> str | None:
    """The answer number of a reply or a worked solution (see the module docstring)."""
    text = _clean(text[-MAX_READ:])
    hashes = _HASHES.findall(text)
    if hashes:
        stated = _stated(hashes[-1])
        if stated is not None:
            return stated
    marked = list(_ANSWER_IS.finditer(text))
    if marked:
        stated = _stated(marked[-1].group(1))
        if stated is not None:
            return stated
    return last_number(text)


def value(token: str, noisy: bool = False) -> Number | None:
    """The value of a plain number (``"-1234.5"``, ``"3/4"``, ``"2.0107e-06"``, ``"$5"``,
    ``"20%"``), or None (also for exponents past ``MAX_EXPONENT``)."""
    t = _clean(token).strip().replace(",", "").replace("$", "").rstrip("%").strip()
    m = re.fullmatch(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE]([-+]?\d+))?(?:/\d+)?", t)
    if m is None or (m.group(1) and abs(int(m.group(1))) > MAX_EXPONENT):
        return None
    try:
        v = Fraction(t)
    except (ValueError, ZeroDivisionError):
        return None
    digits = len(re.sub(r"[eE].*", "", t).replace("-", "").replace(".", "").lstrip("0"))
    return Number(v, noisy or digits >= 15)


def gold_value(gold: object) -> tuple[str | None, Number | None]:
    """The gold answer as (text, value): a float gold is noisy, an int exact, a string is
    read like a reply (``"... #### 72"``)."""
    if isinstance(gold, bool):
        return None, None
    if isinstance(gold, float):
        text = repr(gold)
        return text, value(text, noisy=True)
    if isinstance(gold, int):
        return str(gold), Number(Fraction(gold))
    read = read_answer(str(gold))
    return read, value(read) if read is not None else None


def same(a: Number, b: Number) -> bool:
    """Equal exactly, or within ``NOISE`` (relative) when either carries binary noise."""
    if a.noisy or b.noisy:
        return abs(a.value - b.value) <= NOISE * max(abs(a.value), abs(b.value))
    return a.value == b.value
