"""Are two MATH-style final answers the same? Structure first, then exact values.

``equal(pred, gold, rounded=False)`` -> ``Outcome(equal, reason)``. An answer is read
(after :func:`engine.tasks.latex.clean`) as one of: text (compared by its words, case
ignored, never as a product of letters), a matrix, an assignment ``x = 5`` (only when the
left side is a plain variable name that the right side does not use; ``x = 2x + 3`` stays an
equation, compared as one), an equation, a union of intervals, a set ``\\{...\\}``, a tuple
or interval (ordered, same brackets), a bare list (unordered: the solutions ``-2, 1`` =
``1, -2``; ``3 \\pm 2\\sqrt{2}`` is such a list of two), a number in a base (``52_8``), or
an expression.

Expressions compare exactly: integers, fractions, mixed numbers and finite decimals as
Fractions (``1000001`` != ``1000000``). A tolerance applies only where one side is an
irrational number and the other a decimal, and then at the digits that decimal gives (gold
``1.41`` accepts ``\\sqrt{2}``; gold ``\\pi`` accepts ``3.14`` or ``3.1415``: at least three
significant digits, rounded or cut off), or where the question asks for a rounded answer
(``rounded=True``: within half a unit of the gold's last digit). The rest (``\\frac{\\sqrt3}{2}``
vs ``\\frac12\\sqrt3``, symbols) is decided by sympy in a helper process under a time limit
(:mod:`engine.tasks.bounded`, :mod:`engine.tasks.symbolic`); a timeout, an answer too long,
too large or too deeply nested to evaluate is a failure whose reason is given.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from engine.tasks import latex
from engine.tasks.mathexpr import MAX_CHARS, MAX_DEPTH, Node, Unreadable, parse, symbols
from engine.tasks.mathvalue import (
    DecimalLiteral,
    TooLarge,
    Undefined,
    approx,
    decimal_literal,
    exact,
)

SYMBOLIC_TIMEOUT_S = 1.0  # per verification: sympy work past this is a failure ("timed out")
MAX_RAW = 4 * MAX_CHARS  # raw LaTeX (with \left, \! ...) longer than this is not an answer
# the question asks for a rounded answer ("to the nearest tenth", not "the point nearest to")
ROUNDED = re.compile(r"\bto the nearest\b|\bround(?:ed|ing)?\b|\bdecimal places?\b|"
                     r"\bsignificant (?:figures?|digits?)\b", re.IGNORECASE)
_VAR = re.compile(r"(?:[A-Za-z]|\\(?:alpha|beta|gamma|delta|theta|lambda|mu|phi|psi|omega|rho|"
                  r"sigma|tau))(?:_(?:\{[^{}]*\}|\w))?(?:\([A-Za-z]\))?")
_RELATION = re.compile(r"\\(?:leq|geq|neq|lt|gt)(?![A-Za-z])|[<>]")
# symbol values for the quick numeric check (two points, away from 0, 1 and each other)
_POINTS = ([1.37, 2.71, 0.61, 3.3, 1.91, 2.23, 0.83, 1.13],
           [2.19, 0.77, 1.63, 2.9, 0.45, 3.07, 1.51, 2.47])

Symbolic = Callable[[Node, Node, str], bool]  # (pred, gold, "expr" | "ratio") -> equal?


@dataclass(frozen=True)
class Outcome:
    """Whether two answers are the same; ``reason`` says why not when it is not a plain
    mismatch (too long, too large, timed out, unreadable)."""

    equal: bool
    reason: str = ""


class NeedsSymbolic(Exception):
    """Raised where only sympy can decide (in-process pass; the helper then decides)."""


@dataclass(frozen=True)
class Answer:
    """A read answer: ``kind`` (text, expr, list, set, tuple, union, matrix, row,
    assign, equation, relation, base, ratio, raw; either: ``70,110``, read both as one number and
    as a list), ``key`` (the cleaned text, no spaces)."""

    kind: str
    key: str
    items: tuple[Answer, ...] = ()
    node: Node | None = None
    rhs: Node | None = None  # equation: lhs in node
    name: str = ""  # assign: the variable; tuple: its brackets; base: digits_base
    error: str = ""  # raw: why it was not read as math


def split_top(s: str, sep: str) -> list[str]:
    """``s`` split at ``sep`` outside brackets (any of ``( [ {`` closes any of ``) ] }``)."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(s):
        ch = s[i]
        if ch == "\\" and s.startswith(("\\{", "\\}"), i):
            depth += 1 if s[i + 1] == "{" else -1
            i += 2
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and s.startswith(sep, i) and not (
                sep[0] == "\\" and s[i + len(sep):i + len(sep) + 1].isalpha()):
            parts.append(s[start:i])
            i += len(sep)
            start = i
            continue
        i += 1
    parts.append(s[start:])
    return [p.strip() for p in parts]


def _wraps(s: str) -> bool:
    """Does the bracket at s[0] close at s[-1] (``(1,2)`` yes, ``(a)(b)`` no)?"""
    depth = 0
    for i, ch in enumerate(s):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth == 0 and i < len(s) - 1:
            return False
    return depth == 0


def _mentions(rhs: str, var: str) -> bool:
    if var.startswith("\\"):
        return re.search(re.escape(var) + r"(?![A-Za-z])", rhs) is not None
    bare = re.sub(r"\\[A-Za-z]+", " ", rhs)
    return re.search(rf"(?<![A-Za-z]){re.escape(var[0])}(?![A-Za-z])", bare) is not None


@functools.lru_cache(maxsize=8192)
def cleaned(answer: str) -> str:
    """The cleaned answer (raises ``Unreadable`` when it is far too long)."""
    if len(answer) > MAX_RAW:
        raise Unreadable(f"{len(answer)} characters: too long to be an answer")
    s = latex.clean(answer)
    if len(s) > MAX_CHARS:
        raise Unreadable(f"{len(s)} characters: too long to be an answer")
    return s


@functools.lru_cache(maxsize=8192)
def read(answer: str) -> Answer:
    """Read a raw LaTeX answer (raises ``Unreadable`` when it is far too long). Answers are
    immutable, so reads are cached (a gold is read once for all its samples)."""
    return _read(cleaned(answer), 0)


def _read(s: str, depth: int) -> Answer:
    key = latex.squeeze(s)
    if depth > MAX_DEPTH:
        return Answer("raw", key, error=f"nested more than {MAX_DEPTH} deep")
    if latex.has_text(s):
        return Answer("text", latex.text_key(s))
    m = re.fullmatch(r"\\begin\{pmatrix\}(.*)\\end\{pmatrix\}", s, re.DOTALL)
    if m and "\\begin" not in m.group(1):
        rows = [r for r in m.group(1).split(latex.ROW) if r.strip()]
        return Answer("matrix", key, tuple(
            Answer("row", latex.squeeze(r), tuple(_read(c, depth + 1) for c in split_top(r, "&")))
            for r in rows))
    m = re.fullmatch(rf"({_VAR.pattern})\s*\\in\s*(.+)", s, re.DOTALL)
    if m:  # x \in [-2, 7]
        return _read(m.group(2), depth + 1)
    if re.fullmatch(r"-?\d{1,3}(?:,\s?\d{3})+(?:\.\d+)?", s):  # 70,110: one number or two?
        number = _read(re.sub(r"[,\s]", "", s), depth + 1)
        listed = Answer("list", key, tuple(_read(p, depth + 1) for p in split_top(s, ",")))
        return Answer("either", key, (number, listed))
    for sep, kind in (("\\cup", "union"), (",", "list")):
        parts = [x for x in split_top(s, sep) if x]  # "7, -2, and -5": no empty item
        if len(parts) > 1:
            items = [_read(p, depth + 1) for p in parts]
            flat = [x for a in items for x in (a.items if a.kind == "list" else (a,))]
            return Answer(kind, key, tuple(flat))
    if s.startswith("\\{") and s.endswith("\\}"):
        inner = _read(s[2:-2], depth + 1)
        return Answer("set", key, inner.items if inner.kind == "list" else (inner,))
    if len(s) > 1 and s[0] in "([" and s[-1] in ")]" and _wraps(s):
        parts = split_top(s[1:-1], ",")
        if len(parts) > 1:
            return Answer("tuple", key, tuple(_read(p, depth + 1) for p in parts),
                          name=s[0] + s[-1])
    sides = split_top(s, "=")
    if len(sides) == 2 and all(sides):
        lhs, rhs = sides
        if _VAR.fullmatch(lhs) and not _mentions(rhs, lhs):
            return Answer("assign", key, (_read(rhs, depth + 1),), name=latex.squeeze(lhs))
        return _equation(key, lhs, rhs)
    if len(sides) > 1 or _RELATION.search(s):
        return Answer("relation", key)
    pm = re.split(r"\\(?:pm|mp)(?![A-Za-z])", s)
    if len(pm) == 2:  # 3 \pm 2\sqrt{2}: the two values, wherever the sign stands
        both = (f"{pm[0]}+{pm[1]}", f"{pm[0]}-{pm[1]}")
        return Answer("list", key, tuple(_read(x, depth + 1) for x in both))
    m = re.fullmatch(r"(-?[0-9.][0-9A-Z.]*)_\{?(\d+)\}?", key)
    if m:  # 52_8, 141_{13}: digits in a base, compared as written
        return Answer("base", key, name=f"{m.group(1)}_{m.group(2)}")
    ratio = split_top(s, ":")
    if len(ratio) == 2 and all(ratio):  # 3:1
        return Answer("ratio", key, tuple(_read(x, depth + 1) for x in ratio))
    try:
        return Answer("expr", key, node=parse(s))
    except Unreadable as exc:
        return Answer("raw", key, error=str(exc))


def _equation(key: str, lhs: str, rhs: str) -> Answer:
    try:
        return Answer("equation", key, node=parse(lhs), rhs=parse(rhs))
    except Unreadable as exc:
        return Answer("raw", key, error=str(exc))


def _as_equation(a: Answer) -> tuple[Node, Node] | None:
    """An assignment or equation as (lhs, rhs) nodes."""
    if a.kind == "equation" and a.node is not None and a.rhs is not None:
        return a.node, a.rhs
    if a.kind == "assign" and a.items[0].node is not None:
        try:
            return parse(a.name), a.items[0].node
        except Unreadable:
            return None
    return None


def _clearly_different(a: float, b: float) -> bool:
    return abs(a - b) > 1e-6 * max(1.0, abs(a), abs(b))


def _within(value: float | Fraction, d: DecimalLiteral, half: bool) -> bool:
    """Is ``value`` the decimal ``d`` rounded (``half``) or rounded or cut off at its digits?"""
    unit = Fraction(10) ** -d.places
    diff = Fraction(value) - d.value
    slack = Fraction(1, 10**9) * unit
    if abs(diff) <= unit / 2 + slack:
        return True
    if half:
        return False
    margin = Fraction(1, 10**12) * max(Fraction(1), abs(Fraction(value)))
    return (0 <= diff < unit - margin) if d.value >= 0 else (-unit + margin < diff <= 0)


def _infinite(node: Node) -> bool:
    return (node.op == "const" and node.name == "oo") or any(_infinite(a) for a in node.args)


def _values(p: Node, g: Node, rounded: bool, symbolic: Symbolic | None) -> bool:
    if p == g:  # the same tree: \sqrt3 and \sqrt{3}, \frac12 and \frac{1}{2}
        return True
    if _infinite(p) or _infinite(g):  # equal spellings of infinity were caught above
        return False
    ep, eg = exact(p), exact(g)
    gd = decimal_literal(g)
    if rounded and gd is not None:
        v = ep if ep is not None else approx(p)
        if v is not None:
            return _within(v, gd, half=True)
    if ep is not None and eg is not None:
        return ep == eg
    sp, sg = symbols(p), symbols(g)
    if sp != sg:
        return False
    if not sp:
        ap, ag = approx(p), approx(g)
        if gd is not None and gd.places >= 1 and ep is None and ap is not None:
            return _within(ap, gd, half=True)
        pd = decimal_literal(p)
        if pd is not None and pd.places >= 1 and eg is None and ag is not None:
            return pd.digits >= 3 and _within(ag, pd, half=False)
        if ap is not None and ag is not None and _clearly_different(ap, ag):
            return False
    else:
        for point in _POINTS:
            env = dict(zip(sorted(sp), point, strict=False))
            ap, ag = approx(p, env), approx(g, env)
            if ap is not None and ag is not None and _clearly_different(ap, ag):
                return False
    if symbolic is None:
        raise NeedsSymbolic
    return symbolic(p, g, "expr")


def _equations(p: tuple[Node, Node], g: tuple[Node, Node], symbolic: Symbolic | None) -> bool:
    """Same equation: (lhs - rhs) of one is a non-zero constant times that of the other."""
    dp = Node("add", (p[0], Node("neg", (p[1],))))
    dg = Node("add", (g[0], Node("neg", (g[1],))))
    names = symbols(dp)
    if names != symbols(dg):
        return False
    ratios = []
    for point in _POINTS:
        env = dict(zip(sorted(names), point, strict=False))
        a, b = approx(dp, env), approx(dg, env)
        if a is not None and b is not None and b != 0:
            ratios.append(a / b)
    if len(ratios) == 2 and _clearly_different(*ratios):
        return False
    if symbolic is None:
        raise NeedsSymbolic
    return symbolic(dp, dg, "ratio")


def _unordered(ps: tuple[Answer, ...], gs: tuple[Answer, ...], rounded: bool,
               symbolic: Symbolic | None) -> bool:
    if len(ps) != len(gs):
        return False
    left = list(gs)
    for p in ps:
        hit = next((i for i, g in enumerate(left) if compare(p, g, rounded, symbolic)), None)
        if hit is None:
            return False
        left.pop(hit)
    return True


def _pairwise(ps: tuple[Answer, ...], gs: tuple[Answer, ...], rounded: bool,
              symbolic: Symbolic | None) -> bool:
    return len(ps) == len(gs) and all(
        compare(p, g, rounded, symbolic) for p, g in zip(ps, gs, strict=True))


def compare(pred: Answer, gold: Answer, rounded: bool = False,
            symbolic: Symbolic | None = None) -> bool:
    """Are two read answers the same (raises ``NeedsSymbolic`` if only sympy can say and
    ``symbolic`` is None; ``TooLarge``/``Undefined`` from evaluation)?"""
    kinds = {pred.kind, gold.kind}
    if pred.key == gold.key and pred.kind == gold.kind:
        return True
    if "text" in kinds:
        return latex.text_key(pred.key) == latex.text_key(gold.key)
    if pred.kind == "either":  # 70,110 written plainly: the number 70110 or the list 70, 110
        return any(compare(x, gold, rounded, symbolic) for x in pred.items)
    if gold.kind == "either":
        return any(compare(pred, x, rounded, symbolic) for x in gold.items)
    if kinds <= {"assign", "equation"}:
        if pred.kind == gold.kind == "assign" and (pred.name == gold.name or not (
                _has_symbols(pred.items[0]) or _has_symbols(gold.items[0]))):
            return compare(pred.items[0], gold.items[0], rounded, symbolic)
        pe, ge = _as_equation(pred), _as_equation(gold)
        return pe is not None and ge is not None and _equations(pe, ge, symbolic)
    if pred.kind == "assign":
        return compare(pred.items[0], gold, rounded, symbolic)
    if gold.kind == "assign":
        return compare(pred, gold.items[0], rounded, symbolic)
    if kinds & {"list", "set"} and kinds <= {"list", "set", "expr", "base", "tuple"}:
        ps = pred.items if pred.kind in ("list", "set") else (pred,)
        gs = gold.items if gold.kind in ("list", "set") else (gold,)
        return _unordered(ps, gs, rounded, symbolic)
    if pred.kind == gold.kind == "union":
        return _unordered(pred.items, gold.items, rounded, symbolic)
    if pred.kind == gold.kind == "tuple":
        return pred.name == gold.name and _pairwise(pred.items, gold.items, rounded, symbolic)
    if pred.kind == gold.kind and pred.kind in ("matrix", "row"):
        return _pairwise(pred.items, gold.items, rounded, symbolic)
    if pred.kind == gold.kind == "ratio":  # 3:1 = 6:2
        (a, b), (c, d) = pred.items, gold.items
        if _pairwise(pred.items, gold.items, rounded, symbolic):
            return True
        if {x.kind for x in (a, b, c, d)} == {"expr"}:
            assert a.node and b.node and c.node and d.node
            return _values(Node("mul", (a.node, d.node)), Node("mul", (b.node, c.node)),
                           False, symbolic)
        return False
    if kinds == {"matrix", "tuple"}:  # a column vector written as (1, 2)
        m, t = (pred, gold) if pred.kind == "matrix" else (gold, pred)
        column = tuple(r.items[0] for r in m.items if len(r.items) == 1)
        return len(column) == len(m.items) and _pairwise(column, t.items, rounded, symbolic)
    if "base" in kinds:
        b, other = (pred, gold) if pred.kind == "base" else (gold, pred)
        return (other.kind == "base" and b.name == other.name) or (
            other.kind == "expr" and b.name.split("_")[0] == other.key)
    if pred.kind == gold.kind == "expr" and pred.node is not None and gold.node is not None:
        return _values(pred.node, gold.node, rounded, symbolic)
    return False


def _has_symbols(a: Answer) -> bool:
    return a.node is not None and bool(symbols(a.node))


def outcome(pred: str, gold: str, rounded: bool = False,
            symbolic: Symbolic | None = None) -> Outcome:
    """Compare two raw answers; raises ``NeedsSymbolic`` only when ``symbolic`` is None."""
    try:
        cp = cleaned(pred)
    except Unreadable as exc:
        return Outcome(False, f"answer not read: {exc}")
    try:
        cg = cleaned(gold)
    except Unreadable as exc:
        return Outcome(False, f"gold answer not read: {exc}")
    if latex.squeeze(cp) == latex.squeeze(cg):  # the same spelling, once cleaned
        return Outcome(True)
    p, g = read(pred), read(gold)
    try:
        if compare(p, g, rounded, symbolic):
            return Outcome(True)
    except (TooLarge, Undefined) as exc:
        return Outcome(False, f"not evaluated: {exc}")
    if p.kind == "raw":
        return Outcome(False, f"answer not read as math: {p.error}")
    return Outcome(False)


def equal(pred: str, gold: str, rounded: bool = False,
          timeout_s: float = SYMBOLIC_TIMEOUT_S) -> Outcome:
    """Compare in this process; where sympy is needed, in a helper process that is killed
    after ``timeout_s`` seconds (then the outcome is a failure, "timed out")."""
    try:
        return outcome(pred, gold, rounded)
    except NeedsSymbolic:
        pass
    from engine.tasks.bounded import HelperFailed, TimedOut, helpers

    try:
        reply = helpers().call({"pred": pred, "gold": gold, "rounded": rounded}, timeout_s)
    except TimedOut as exc:
        return Outcome(False, f"symbolic check {exc}")
    except HelperFailed as exc:
        return Outcome(False, f"symbolic check failed: {exc}")
    return Outcome(bool(reply["equal"]), str(reply["reason"]))


def math_equal(pred: str, gold: str, rounded: bool = False) -> bool:
    """Equivalent MATH answers (see the module docstring)."""
    return equal(pred, gold, rounded).equal


def helper_call(request: dict[str, Any] | None) -> dict[str, Any]:
    """What the helper process runs per request (None: warm up, import sympy)."""
    from engine.tasks.symbolic import check

    if request is None:  # warm up: import what the first real checks would import
        outcome(r"\frac{\sqrt{3}}{2}", r"\frac{1}{2}\sqrt{3}", False, check)
        outcome("y = 2x + 3", "2x - y + 3 = 0", False, check)
        return {"ready": True}
    out = outcome(str(request["pred"]), str(request["gold"]), bool(request["rounded"]), check)
    return {"equal": out.equal, "reason": out.reason}
