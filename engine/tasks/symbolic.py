"""Symbolic equality with sympy, for the answers exact arithmetic cannot settle.

Runs in the helper processes of :mod:`engine.tasks.bounded` (under a time limit), from the
trees of :mod:`engine.tasks.mathexpr`: the sympy expression is built node by node, never
by ``eval`` of the answer text. Sizes were checked when the tree was evaluated exactly, so
no huge integer power is built here.
"""

from __future__ import annotations

from typing import Any

import sympy

from engine.tasks.mathexpr import Node

_FUNCS: dict[str, Any] = {
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "cot": sympy.cot,
    "sec": sympy.sec, "csc": sympy.csc, "arcsin": sympy.asin, "arccos": sympy.acos,
    "arctan": sympy.atan, "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh,
    "ln": sympy.log, "exp": sympy.exp}


def to_sympy(node: Node) -> Any:
    """The sympy expression of a tree (symbols are complex-valued, as in sympy's default)."""
    op = node.op
    if op == "num":
        assert node.value is not None
        return sympy.Rational(node.value.numerator, node.value.denominator)
    if op == "sym":
        return sympy.Symbol(node.name)
    if op == "const":
        return {"pi": sympy.pi, "oo": sympy.oo, "I": sympy.I}[node.name]
    xs = [to_sympy(a) for a in node.args]
    if op == "add":
        return sympy.Add(*xs)
    if op == "mul":
        return sympy.Mul(*xs)
    if op == "neg":
        return -xs[0]
    if op == "div":
        return xs[0] / xs[1]
    if op == "pow":
        return sympy.Pow(xs[0], xs[1])
    if op == "root":
        return sympy.root(xs[0], xs[1])
    if op == "abs":
        return sympy.Abs(xs[0])
    if op == "floor":
        return sympy.floor(xs[0])
    if op == "ceil":
        return sympy.ceiling(xs[0])
    if op == "fact":
        return sympy.factorial(xs[0])
    if op == "binom":
        return sympy.binomial(xs[0], xs[1])
    if op == "func":
        if node.name == "log":
            return sympy.log(xs[0], xs[1] if len(xs) == 2 else 10)
        return _FUNCS[node.name](xs[0])
    raise ValueError(f"no sympy form for {op}")


def _zero(expr: Any) -> bool:
    """Is ``expr`` zero? Cheap rewrites first, then simplify, then sympy's numeric test."""
    if expr == 0 or sympy.expand(expr) == 0:
        return True
    if sympy.simplify(expr) == 0:
        return True
    return bool(expr.equals(0) is True)


def check(pred: Node, gold: Node, mode: str) -> bool:
    """``mode`` "expr": pred = gold; "ratio": pred = c * gold for a constant c != 0 (the
    two sides of two equations moved to one side)."""
    a, b = to_sympy(pred), to_sympy(gold)
    if mode == "expr":
        return _zero(a - b)
    ratio = sympy.simplify(a / b)
    return bool(ratio != 0 and ratio.is_finite is not False and not ratio.free_symbols)
