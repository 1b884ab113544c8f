"""The value of an expression tree (:mod:`engine.tasks.mathexpr`): exact, or approximate.

``exact(node)`` is the value as a Fraction when plain arithmetic gives it (None for symbols,
pi, irrational roots); ``approx(node, env)`` a float (None where undefined); and
``decimal_literal(node)`` the digits an answer was written with (``6.72\\times10^{-5}``:
7 places, 3 digits), for tolerances at the precision of a written decimal. Work that would
not end in reasonable time is refused by size before it is done: ``TooLarge`` for a result
over ``MAX_BITS`` bits (``9^{9^{9}}``, ``100000!``). Knows nothing of sympy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from engine.tasks.mathexpr import Node

MAX_BITS = 16384  # ~4900 digits: no MATH answer comes near; 9^{9^{9}} would be 1.2e9 bits
MAX_FACTORIAL = 1500  # 1500! has ~4100 digits (< MAX_BITS)


class TooLarge(ValueError):
    """Evaluating this would produce a number too large to be an answer (or take forever)."""


class Undefined(ValueError):
    """Division by zero, 0^-1 and the like."""


def _check(v: Fraction) -> Fraction:
    if max(v.numerator.bit_length(), v.denominator.bit_length()) > MAX_BITS:
        raise TooLarge(f"too large: a number over {MAX_BITS} bits")
    return v


def _int_root(v: int, n: int) -> int | None:
    """The exact n-th root of a non-negative integer, or None."""
    r = round(v ** (1.0 / n)) if v.bit_length() < 1000 else math.isqrt(v) if n == 2 else None
    if r is None:
        return None
    for c in (r - 1, r, r + 1):
        if c >= 0 and c ** n == v:
            return c
    return None


def _power(base: Fraction, exp: Fraction) -> Fraction | None:
    if base == 0 and exp < 0:
        raise Undefined("0 to a negative power")
    if base == 0 or base == 1:
        return base
    if exp.denominator > 1:  # a root: exact only for perfect powers
        q = exp.denominator
        if q > 64 or (base < 0 and q % 2 == 0):
            return None
        sign = -1 if base < 0 else 1
        rn, rd = _int_root(abs(base.numerator), q), _int_root(base.denominator, q)
        if rn is None or rd is None:
            return None
        base, exp = Fraction(sign * rn, rd), Fraction(exp.numerator)
    bits = max(base.numerator.bit_length(), base.denominator.bit_length())
    if abs(exp) * max(bits - 1, 1) > MAX_BITS and base not in (-1, 1):
        raise TooLarge(f"too large: a power over {MAX_BITS} bits")
    return _check(base ** int(exp))


def exact(node: Node) -> Fraction | None:
    """The value as a Fraction when integer arithmetic gives it, else None. Every numeric
    part is evaluated (so a too-large part anywhere raises ``TooLarge``)."""
    op, args = node.op, node.args
    if op == "num":
        assert node.value is not None
        return node.value
    if op in ("sym", "const"):
        return None
    vals = [exact(a) for a in args]
    if any(v is None for v in vals):
        return None
    xs = [v for v in vals if v is not None]
    if op == "add":
        return _check(sum(xs, Fraction(0)))
    if op == "mul":
        out = Fraction(1)
        for v in xs:
            out = _check(out * v)
        return out
    if op == "neg":
        return -xs[0]
    if op == "div":
        if xs[1] == 0:
            raise Undefined("division by zero")
        return _check(xs[0] / xs[1])
    if op == "pow":
        return _power(xs[0], xs[1])
    if op == "root":
        if xs[1] == 0:
            raise Undefined("a 0th root")
        return _power(xs[0], 1 / xs[1]) if xs[0] >= 0 or xs[1].denominator == 1 else None
    if op == "abs":
        return abs(xs[0])
    if op in ("floor", "ceil"):
        return Fraction(math.floor(xs[0]) if op == "floor" else math.ceil(xs[0]))
    if op == "fact":
        if xs[0].denominator != 1 or xs[0] < 0:
            return None
        if xs[0] > MAX_FACTORIAL:
            raise TooLarge(f"{xs[0]}! is too large")
        return Fraction(math.factorial(int(xs[0])))
    if op == "binom":
        n, k = xs
        if n.denominator != 1 or k.denominator != 1 or n < 0 or k < 0:
            return None
        if n > 50 * MAX_FACTORIAL:
            raise TooLarge("a binomial coefficient too large")
        return _check(Fraction(math.comb(int(n), int(k))))
    return None  # func: left to approx / sympy


_FLOAT_FUNCS: dict[str, Callable[[float], float]] = {
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "arcsin": math.asin,
    "arccos": math.acos, "arctan": math.atan, "sinh": math.sinh, "cosh": math.cosh,
    "tanh": math.tanh, "ln": math.log, "exp": math.exp,
    "cot": lambda x: 1 / math.tan(x), "sec": lambda x: 1 / math.cos(x),
    "csc": lambda x: 1 / math.sin(x)}


def approx(node: Node, env: dict[str, float] | None = None) -> float | None:
    """A float value (symbols from ``env``); None where undefined, complex or too large."""
    try:
        value = _approx(node, env or {})
    except (ValueError, ZeroDivisionError, OverflowError, TypeError):
        return None
    return value if value is not None and math.isfinite(value) else None


def _approx(node: Node, env: dict[str, float]) -> float | None:
    op = node.op
    if op == "num":
        return float(node.value) if node.value is not None else None
    if op == "sym":
        return env.get(node.name)
    if op == "const":
        return math.pi if node.name == "pi" else None
    vals = [_approx(a, env) for a in node.args]
    if any(v is None for v in vals):
        return None
    xs = [v for v in vals if v is not None]
    if op == "add":
        return math.fsum(xs)
    if op == "mul":
        return math.prod(xs)
    if op == "neg":
        return -xs[0]
    if op == "div":
        return xs[0] / xs[1]
    if op in ("pow", "root"):
        b, e = xs[0], xs[1] if op == "pow" else 1 / xs[1]
        if b < 0 and e != int(e):  # odd roots of negatives are real: -8^{1/3} = -2
            inv = 1 / e
            return -((-b) ** e) if op == "root" and inv == int(inv) and int(inv) % 2 else None
        return float(b ** e)
    if op == "abs":
        return abs(xs[0])
    if op == "floor":
        return float(math.floor(xs[0]))
    if op == "ceil":
        return float(math.ceil(xs[0]))
    if op == "fact":
        return math.gamma(xs[0] + 1) if xs[0] < 171 else None
    if op == "binom":
        return float(math.comb(int(xs[0]), int(xs[1]))) if all(x == int(x) for x in xs) else None
    if op == "func":
        if node.name == "log":
            return math.log(xs[0], xs[1]) if len(xs) == 2 else math.log10(xs[0])
        return float(_FLOAT_FUNCS[node.name](xs[0]))
    return None


@dataclass(frozen=True)
class DecimalLiteral:
    """A number written with digits: its value, decimal places and significant digits
    (``6.72\\times10^{-5}``: places 7, digits 3)."""

    value: Fraction
    places: int
    digits: int


def decimal_literal(node: Node) -> DecimalLiteral | None:
    """The answer as written digits (``-0.50``, ``6.72\\times10^{-5}``), or None."""
    if node.op == "neg":
        inner = decimal_literal(node.args[0])
        return None if inner is None else DecimalLiteral(-inner.value, inner.places, inner.digits)
    scale = 0
    if node.op == "mul" and len(node.args) == 2 and node.args[1].op == "pow":
        ten, power = node.args[1].args
        p = exact(power) if power.op in ("num", "neg") else None
        if ten.op != "num" or ten.value != 10 or p is None or p.denominator != 1:
            return None
        node, scale = node.args[0], int(p)
    if node.op != "num" or node.value is None:
        return None
    mantissa, _, exponent = node.literal.lower().partition("e")  # 2.0107e-06
    places = len(mantissa.split(".")[1]) if "." in mantissa else 0
    digits = len(mantissa.replace(".", "").lstrip("0")) or 1
    value = _check(node.value * Fraction(10) ** scale)  # node.value has its e-06 already
    return DecimalLiteral(value, places - scale - int(exponent or 0), digits)
