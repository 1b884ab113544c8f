"""Read one LaTeX math expression into a small tree (values: :mod:`engine.tasks.mathvalue`).

``parse(text)`` reads a cleaned expression (see :mod:`engine.tasks.latex`): numbers,
letters (``x``, ``x_1``, Greek), ``+ - \\cdot \\times \\div /``, implicit products
(``2\\sqrt{3}``, ``\\pi r^2``), ``^``, ``\\frac``, ``\\sqrt[n]{}``, ``\\binom``, ``!``,
``|x|``, floor/ceiling, functions (``\\sin``, ``\\log_2``...), ``\\pi``, ``\\infty``, ``i``,
mixed numbers (``1\\frac{4}{5}`` is 9/5, never a product) and scientific notation
(``6.72\\times10^{-5}``, ``2.0107e-06``). Nothing is ever passed to ``eval``: the tree is
built here. It raises ``Unreadable`` for what it does not understand, and for text over
``MAX_CHARS`` or nesting over ``MAX_DEPTH`` (so the work stays bounded).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

MAX_CHARS = 1000  # a final answer longer than this is prose, not an answer
MAX_DEPTH = 40  # brackets/fractions nested deeper than this: garbage, not an answer

GREEK = frozenset(
    "alpha beta gamma delta epsilon varepsilon zeta eta theta vartheta iota kappa lambda mu "
    "nu xi omicron rho varrho sigma varsigma tau upsilon phi varphi chi psi omega Gamma Delta "
    "Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split())
FUNCTIONS = frozenset(
    "sin cos tan cot sec csc arcsin arccos arctan sinh cosh tanh log ln exp lg".split())
_BINARY = {"\\cdot": "*", "\\times": "*", "\\ast": "*", "\\div": "/", "*": "*", "/": "/"}
# a number may carry an exponent (2.0107e-06: how floats print; no MATH answer is 2e-1 = 2e - 1)
_TOKEN = re.compile(r"\s*(?:((?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?)|(\\[A-Za-z]+|\\[{}|])|"
                    r"([A-Za-z])|(\S))")
MAX_EXPONENT = 5000  # in 1e5000 notation: past any number worth evaluating


class Unreadable(ValueError):
    """The text is not an expression this reader understands (or is too long or deep)."""


@dataclass(frozen=True)
class Node:
    """One node of an expression: ``op`` is num, sym, const, add, mul, div, neg, pow, root,
    fact, abs, floor, ceil, binom or func; ``name`` the symbol/constant/function name;
    ``value`` and ``literal`` (the digits as written) for numbers."""

    op: str
    args: tuple[Node, ...] = ()
    name: str = ""
    value: Fraction | None = None
    literal: str = ""


def num(text: str) -> Node:
    """A number token (``12``, ``0.50``, ``2.0107e-06``) as a node, its digits kept."""
    exponent = text.lower().partition("e")[2]
    if exponent and abs(int(exponent)) > MAX_EXPONENT:
        raise Unreadable(f"too large: the exponent of {text[:40]}")
    return Node("num", value=Fraction(text), literal=text)


class _Parser:
    def __init__(self, text: str) -> None:
        if len(text) > MAX_CHARS:
            raise Unreadable(f"{len(text)} characters: too long to be an answer")
        self.tokens = [next(g for g in m.groups() if g is not None)
                       for m in _TOKEN.finditer(text) if any(m.groups())]
        self.pos = 0
        self.depth = 0
        self.in_abs = 0
        self.in_exponent = 0

    def peek(self, ahead: int = 0) -> str | None:
        i = self.pos + ahead
        return self.tokens[i] if i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise Unreadable(f"expected {expected or 'more'} at token {self.pos}, got {tok!r}")
        self.pos += 1
        return tok

    def nested(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise Unreadable(f"nested more than {MAX_DEPTH} deep")

    def parse(self) -> Node:
        node = self.expr()
        if self.peek() is not None:
            raise Unreadable(f"unexpected {self.peek()!r}")
        return node

    def expr(self) -> Node:
        self.nested()
        terms = [self.term()]
        while self.peek() in ("+", "-"):
            sign = self.take()
            t = self.term()
            terms.append(Node("neg", (t,)) if sign == "-" else t)
        self.depth -= 1
        return terms[0] if len(terms) == 1 else Node("add", tuple(terms))

    def term(self, implicit_only: bool = False) -> Node:
        factors = [self.unary()]
        while True:
            tok = self.peek()
            if tok in _BINARY and not implicit_only:
                op = _BINARY[self.take()]
                f = self.unary()
                factors.append(Node("div", (Node("num", value=Fraction(1), literal="1"), f))
                               if op == "/" else f)
            elif tok is not None and self.starts_atom(tok):
                if factors[-1].op == "num" and tok[0].isdigit():
                    raise Unreadable("two numbers side by side")  # "2 3" is no product
                factors.append(self.power())
            else:
                break
        return factors[0] if len(factors) == 1 else Node("mul", tuple(factors))

    def starts_atom(self, tok: str) -> bool:
        if tok[0].isdigit() or tok[0] == "." or tok.isalpha() or tok in ("(", "{"):
            return True
        if tok == "|":
            return not self.in_abs
        name = tok[1:]
        return tok.startswith("\\") and (name in GREEK or name in FUNCTIONS or name in (
            "frac", "sqrt", "binom", "pi", "infty", "lfloor", "lceil"))

    def unary(self) -> Node:
        if self.peek() in ("-", "+"):
            sign = self.take()
            inner = self.unary()
            return Node("neg", (inner,)) if sign == "-" else inner
        return self.power()

    def power(self) -> Node:
        base = self.postfix(self.atom())
        if self.peek() == "^":
            self.take()
            self.nested()
            exponent = self.exponent()
            self.depth -= 1
            return Node("pow", (base, exponent))
        return base

    def exponent(self) -> Node:
        if self.peek() in ("-", "+"):
            sign = self.take()
            inner = self.exponent()
            return Node("neg", (inner,)) if sign == "-" else inner
        self.in_exponent += 1  # x^2\frac{1}{2} is a product, not x to a mixed number
        node = self.power()
        self.in_exponent -= 1
        return node

    def postfix(self, node: Node) -> Node:
        while self.peek() == "!":
            self.take()
            node = Node("fact", (node,))
        return node

    def group(self) -> Node:
        """``{...}`` or a single token (``\\frac12``)."""
        if self.peek() == "{":
            self.take()
            inner = self.expr()
            self.take("}")
            return inner
        tok = self.take()
        if tok[0].isdigit():
            if len(tok) > 1 and tok.isdigit():  # \frac12: the first digit only
                self.tokens[self.pos - 1:self.pos] = [tok[0], tok[1:]]
                tok = tok[0]
            return num(tok)
        if tok.isalpha():
            return Node("sym", name=tok)
        self.pos -= 1
        return self.atom()

    def atom(self) -> Node:
        self.nested()
        node = self._atom()
        self.depth -= 1
        return node

    def _atom(self) -> Node:
        tok = self.take()
        if tok[0].isdigit() or tok[0] == ".":
            return self.mixed(num(tok))
        if tok in ("(", "{"):
            inner = self.expr()
            self.take(")" if tok == "(" else "}")
            return inner
        if tok == "|":
            self.in_abs += 1
            inner = self.expr()
            self.in_abs -= 1
            self.take("|")
            return Node("abs", (inner,))
        if tok.isalpha():
            if tok == "i":
                return Node("const", name="I")
            return self.subscripted(tok)
        if not tok.startswith("\\"):
            raise Unreadable(f"unexpected {tok!r}")
        name = tok[1:]
        if name == "frac":
            a = self.group()
            b = self.group()
            return Node("div", (a, b))
        if name == "sqrt":
            index = Node("num", value=Fraction(2), literal="2")
            if self.peek() == "[":
                self.take()
                index = self.expr()
                self.take("]")
            return Node("root", (self.group(), index))
        if name == "binom":
            return Node("binom", (self.group(), self.group()))
        if name in ("lfloor", "lceil"):
            inner = self.expr()
            self.take("\\rfloor" if name == "lfloor" else "\\rceil")
            return Node("floor" if name == "lfloor" else "ceil", (inner,))
        if name == "pi":
            return Node("const", name="pi")
        if name == "infty":
            return Node("const", name="oo")
        if name in GREEK:
            return self.subscripted(name)
        if name in FUNCTIONS:
            return self.function(name)
        raise Unreadable(f"unknown command \\{name}")

    def subscripted(self, name: str) -> Node:
        if self.peek() == "_":
            self.take()
            if self.peek() == "{":
                self.take()
                parts = []
                while self.peek() not in ("}", None):
                    parts.append(self.take())
                self.take("}")
                name += "_" + "".join(parts)
            else:
                name += "_" + self.take()
        return Node("sym", name=name)

    def function(self, name: str) -> Node:
        base: Node | None = None
        power: Node | None = None
        if name == "log" and self.peek() == "_":
            self.take()
            base = self.group()
        if self.peek() == "^":  # \sin^2 x
            self.take()
            power = self.exponent()
        if self.peek() == "(":
            self.take()
            arg = self.expr()
            self.take(")")
        elif self.peek() == "{":
            arg = self.group()
        else:
            arg = self.term(implicit_only=True)
        args = (arg,) if base is None else (arg, base)
        inverse = power is not None and power.op == "neg" and power.args[0].value == 1
        if inverse and name in ("sin", "cos", "tan"):  # \sin^{-1} is arcsin
            return Node("func", args, name="arc" + name)
        node = Node("func", args, name={"lg": "log"}.get(name, name))
        return Node("pow", (node, power)) if power is not None else node

    def mixed(self, whole: Node) -> Node:
        """``1\\frac{4}{5}`` is the mixed number 9/5 (a proper fraction of integers right
        after an integer), not the product 4/5."""
        if self.peek() != "\\frac" or not whole.literal.isdigit() or self.in_exponent:
            return whole
        save = self.pos
        self.take()
        try:
            a, b = self.group(), self.group()
        except Unreadable:
            self.pos = save
            return whole
        if (a.op == "num" and b.op == "num" and (a.literal + b.literal).isdigit()
                and a.value is not None and b.value is not None and 0 < a.value < b.value):
            return Node("add", (whole, Node("div", (a, b))))
        self.pos = save
        return whole


def parse(text: str) -> Node:
    """The expression tree of a cleaned LaTeX expression (raises ``Unreadable``)."""
    return _Parser(text).parse()


def symbols(node: Node) -> set[str]:
    """Names of the free variables (``x``, ``x_1``, ``theta``)."""
    if node.op == "sym":
        return {node.name}
    out: set[str] = set()
    for a in node.args:
        out |= symbols(a)
    return out
