"""The Traces query bar: a small filter language compiled to an SQL condition on ``traces t``.

    verdict = wrong and steps > 5 and run in (3, 4) and text ~ "carry"

A query is comparisons joined by ``and`` / ``or`` / ``not`` and parentheses. A comparison is
``field op value``; ops are ``= != < <= > >=``, ``~`` (contains, case-insensitive) and
``!~``, and ``in (v, ...)`` / ``not in (...)``. Values are numbers, bare words or quoted
strings ("..." or '...', backslash escapes). Every value becomes a bound SQL parameter and
every field maps to a fixed SQL expression from ``FIELDS``: nothing the user types is ever
pasted into SQL, so ``text ~ "'; DROP TABLE traces; --"`` searches for that text.

A mistake raises ``QueryError`` with the character position, for the bar to point at.
Saved queries ("slices") live in the project database (``slices``). Knows nothing of Qt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from engine.errors import DistillabError
from engine.labels import DISAGREE_SQL
from engine.store import Store, now


@dataclass(frozen=True)
class Field:
    sql: str  # an SQL expression over ``traces t``; fixed text, never user input
    kind: str  # "int", "real", "text", "bool", "label"
    help: str


_STEPS = "(SELECT COUNT(*) FROM steps s WHERE s.trace_id = t.id)"
FIELDS: dict[str, Field] = {
    "id": Field("t.id", "int", "trace id"),
    "run": Field("t.run_id", "int", "run id"),
    "item": Field("t.item_id", "int", "item id"),
    "stage": Field("t.stage", "text", "stage name"),
    "role": Field("t.role", "text", "teacher, student, ..."),
    "model": Field("t.model", "text", "model name"),
    "verdict": Field("t.verdict", "text", "the trace's verdict: correct, wrong, ..."),
    "flag": Field("t.flag", "text", "why a trace was excluded"),
    "score": Field("t.score", "real", "the trace's score"),
    "text": Field("t.output", "text", "the trace's output"),
    "prompt": Field("t.prompt", "text", "the prompt sent"),
    "steps": Field(_STEPS, "int", "number of steps"),
    "wrong_steps": Field("(SELECT COUNT(*) FROM steps s WHERE s.trace_id = t.id "
                         "AND s.verdict = 'wrong')", "int", "steps the teacher judged wrong"),
    "step": Field("", "step", "text of any step (use ~)"),
    "passed": Field("t.id IN (SELECT trace_id FROM evaluations WHERE trace_id IS NOT NULL "
                    "AND passed = ?)", "bool", "an evaluation of the trace passed: yes / no"),
    "label": Field("", "label", "a human label on a step: correct, wrong, unsure, any, none"),
    "disagree": Field(f"EXISTS ({DISAGREE_SQL})", "bool",
                      "a human label differs from the teacher's verdict: yes / no"),
}
_BOOLS = {"yes": True, "true": True, "1": True, "no": False, "false": False, "0": False}
_ORDER_OPS = ("<", "<=", ">", ">=")


class QueryError(DistillabError):
    """A query that cannot be read; ``pos`` is the 0-based character it goes wrong at."""

    def __init__(self, message: str, pos: int, query: str) -> None:
        super().__init__(f"{message} (at character {pos + 1})",
                         "fields: " + ", ".join(FIELDS) + "; e.g. verdict = wrong and "
                         'steps > 5 and text ~ "carry"')
        self.reason = message
        self.pos = pos
        self.query = query

    def caret(self) -> str:
        """The query with a ^ under the position, for a monospaced error line."""
        return f"{self.query}\n{' ' * self.pos}^ {self.reason}"


@dataclass(frozen=True)
class Token:
    kind: str  # num, str, word, op, (, ), ",", end
    text: str
    value: Any
    pos: int


_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<num>-?\d+(?:\.\d+)?(?![\w.]))
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<op>!=|<=|>=|!~|=|<|>|~)
  | (?P<paren>[(),])
  | (?P<word>[\w.:/@+-]+)
""", re.VERBOSE)


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(query):
        m = _TOKEN.match(query, pos)
        if m is None:
            if query[pos] in "\"'":
                raise QueryError("this quote is never closed", pos, query)
            raise QueryError(f"unexpected character {query[pos]!r}", pos, query)
        kind = m.lastgroup or ""
        text = m.group()
        if kind == "num":
            tokens.append(Token("num", text, float(text) if "." in text else int(text), pos))
        elif kind == "str":
            tokens.append(Token("str", text, re.sub(r"\\(.)", r"\1", text[1:-1]), pos))
        elif kind == "paren":
            tokens.append(Token(text, text, text, pos))
        elif kind != "space":
            tokens.append(Token(kind, text, text, pos))
        pos = m.end()
    tokens.append(Token("end", "", None, len(query)))
    return tokens


def _like(text: str) -> str:
    """A LIKE pattern that matches ``text`` literally anywhere (% and _ escaped)."""
    return "%" + re.sub(r"([\\%_])", r"\\\1", text) + "%"


class _Parser:
    def __init__(self, query: str) -> None:
        self.query = query
        self.tokens = tokenize(query)
        self.i = 0
        self.params: list[Any] = []

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def error(self, message: str, tok: Token | None = None) -> QueryError:
        return QueryError(message, (tok or self.peek()).pos, self.query)

    def keyword(self, word: str) -> bool:
        tok = self.peek()
        if tok.kind == "word" and tok.text.lower() == word:
            self.i += 1
            return True
        return False

    def parse(self) -> str:
        if self.peek().kind == "end":
            raise self.error("the query is empty")
        sql = self.or_expr()
        if self.peek().kind != "end":
            raise self.error(f"expected 'and', 'or' or the end, found {self.peek().text!r}")
        return sql

    def or_expr(self) -> str:
        parts = [self.and_expr()]
        while self.keyword("or"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else "(" + " OR ".join(parts) + ")"

    def and_expr(self) -> str:
        parts = [self.not_expr()]
        while self.keyword("and"):
            parts.append(self.not_expr())
        return parts[0] if len(parts) == 1 else "(" + " AND ".join(parts) + ")"

    def not_expr(self) -> str:
        if self.keyword("not"):
            return f"NOT {self.not_expr()}"
        if self.peek().kind == "(":
            self.take()
            inner = self.or_expr()
            if self.peek().kind != ")":
                raise self.error("expected ')'")
            self.take()
            return f"({inner})"
        return self.comparison()

    def comparison(self) -> str:
        tok = self.take()
        if tok.kind != "word":
            raise self.error("expected a field name" + (
                f", found {tok.text!r}" if tok.text else ""), tok)
        name = tok.text.lower()
        field = FIELDS.get(name)
        if field is None:
            raise self.error(f"unknown field {tok.text!r}; fields: {', '.join(FIELDS)}", tok)
        op_tok = self.peek()
        if self.keyword("not"):
            if not self.keyword("in"):
                raise self.error("expected 'in' after 'not'")
            return "NOT " + self.in_list(name, field, op_tok)
        if self.keyword("in"):
            return self.in_list(name, field, op_tok)
        op = self.take()
        if op.kind != "op":
            raise self.error(f"expected an operator (= != < <= > >= ~ !~ in) after {name}", op)
        value = self.value()
        return self.compare(name, field, op, value)

    def value(self) -> Token:
        tok = self.take()
        if tok.kind not in ("num", "str", "word"):
            raise self.error("expected a value (a number, a word or a quoted string)", tok)
        return tok

    def in_list(self, name: str, field: Field, op_tok: Token) -> str:
        if self.peek().kind != "(":
            raise self.error("expected '(' to start the list, e.g. run in (3, 4)")
        self.take()
        values = [self.value()]
        while self.peek().kind == ",":
            self.take()
            values.append(self.value())
        if self.peek().kind != ")":
            raise self.error("expected ',' or ')' in the list")
        self.take()
        eq = Token("op", "=", "=", op_tok.pos)
        if field.kind in ("int", "real", "text"):  # one IN (...) the planner can use an index for
            for v in values:
                self.compare(name, field, eq, v)  # checks the value and binds it
            return f"{field.sql} IN ({', '.join('?' for _ in values)})"
        return "(" + " OR ".join(self.compare(name, field, eq, v) for v in values) + ")"

    def compare(self, name: str, field: Field, op: Token, value: Token) -> str:
        o = op.text
        if field.kind in ("int", "real"):
            if o in ("~", "!~"):
                raise self.error(f"{name} is a number: use = != < <= > >=", op)
            if value.kind != "num" or (field.kind == "int" and isinstance(value.value, float)):
                raise self.error(f"{name} takes a{'' if field.kind == 'real' else 'n integer'} "
                                 f"number, not {value.text!r}", value)
            self.params.append(value.value)
            return f"{field.sql} {o} ?"
        text = str(value.value)
        if field.kind == "text":
            if o in _ORDER_OPS:
                raise self.error(f"{name} is text: use = != ~ !~ or in", op)
            if o in ("~", "!~"):
                self.params.append(_like(text))
                neg = "NOT " if o == "!~" else ""
                return f"COALESCE({field.sql}, '') {neg}LIKE ? ESCAPE '\\'"
            self.params.append(text)
            # != keeps traces where the field is empty (NULL), as a person reading it expects
            return f"{field.sql} = ?" if o == "=" else f"{field.sql} IS NOT ?"
        if field.kind == "step":
            if o not in ("~", "!~"):
                raise self.error("step matches step text: use step ~ \"words\"", op)
            self.params.append(_like(text))
            neg = "NOT " if o == "!~" else ""
            return (f"{neg}EXISTS (SELECT 1 FROM steps s WHERE s.trace_id = t.id "
                    "AND s.text LIKE ? ESCAPE '\\')")
        if o not in ("=", "!="):
            raise self.error(f"{name} takes = or !=", op)
        neg = "NOT " if o == "!=" else ""
        if field.kind == "bool":
            flag = _BOOLS.get(text.lower())
            if flag is None:
                raise self.error(f"{name} is yes or no, not {value.text!r}", value)
            if name == "passed":
                self.params.append(int(flag))
                return f"{neg}({field.sql})"
            return f"{neg}{'' if flag else 'NOT '}{field.sql}"
        label = text.lower()  # field.kind == "label"
        if label not in ("correct", "wrong", "unsure", "any", "none"):
            raise self.error(f"label is correct, wrong, unsure, any or none, not "
                             f"{value.text!r}", value)
        exists = "EXISTS (SELECT 1 FROM step_labels l WHERE l.trace_id = t.id"
        if label in ("any", "none"):
            return f"{neg}{'NOT ' if label == 'none' else ''}{exists})"
        self.params.append(label)
        return f"{neg}{exists} AND l.label = ?)"


def compile_query(query: str) -> tuple[str, list[Any]]:
    """An SQL condition on ``traces t`` and its bound parameters; raises QueryError."""
    parser = _Parser(query)
    return parser.parse(), parser.params


# -- saved slices --------------------------------------------------------------------


def save_slice(store: Store, name: str, query: str) -> None:
    """Save (or replace) a named query; the query must compile."""
    name = name.strip()
    if not name:
        raise DistillabError("a slice needs a name", "type a name for the saved query")
    compile_query(query)
    store.conn.execute(
        "INSERT INTO slices (name, query, created_at) VALUES (?, ?, ?) "
        "ON CONFLICT (name) DO UPDATE SET query = excluded.query, "
        "created_at = excluded.created_at", (name, query.strip(), now()))


def slices(store: Store) -> list[tuple[str, str]]:
    """(name, query) of every saved slice, by name."""
    return [(str(r[0]), str(r[1])) for r in store.query(
        "SELECT name, query FROM slices ORDER BY name")]


def delete_slice(store: Store, name: str) -> None:
    store.conn.execute("DELETE FROM slices WHERE name = ?", (name,))
