"""Code task kinds: the program is cut out of the reply and run with its tests in the sandbox.

* ``code_asserts`` (MBPP): fields ``tests`` (assert statements), optional ``test_setup``
  (MBPP's ``test_setup_code``, run after the program, before the asserts);
* ``code_check`` (LeetCode / HumanEval): fields ``test`` (defines ``check(candidate)``),
  ``entry_point`` (``"Solution().twoSum"`` or a function name), optional ``prompt`` (the
  imports / helper prefix the program is run after; HumanEval's function header, after
  which a reply that is only the function body is accepted);
* ``code_stdio`` (CodeContests): field ``tests``, a list of ``{"input", "output"}`` or
  ``{"input": [...], "output": [...]}``; output compared token by token, floats to 1e-6.

A program passes only if every test passes. ``verify_many`` runs a batch in parallel on
the sandbox pool. Knows nothing of models or the store.
"""

from __future__ import annotations

import ast
import atexit
import re
import textwrap
import threading
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from engine.errors import DistillabError
from engine.sandbox import Program, Result, Sandbox
from engine.tasks.base import Progress, Task, Verdict

_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_TAGS = {"", "python", "py", "python3", "py3", "pycon", "ipython"}
_CODE_START = re.compile(
    r"^(?:def |class |import |from \w|@|#|if |for |while |with |try:|print\(|[A-Za-z_][\w.]* *=)")

_DEF = re.compile(r"^([ \t]*)def\s+\w+\s*\(", re.MULTILINE)

_default: Sandbox | None = None
_default_lock = threading.Lock()


def default_sandbox() -> Sandbox:
    """One shared pool (one worker per core, default limits), closed when Python exits."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Sandbox()
            atexit.register(_default.close)
        return _default


def _parses(code: str) -> bool:
    try:
        with warnings.catch_warnings():  # invalid escapes in old code warn at parse time
            warnings.simplefilter("ignore")
            ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _defines(code: str, entry_point: str) -> bool:
    """Does ``code`` define the entry point (``Solution().f`` -> class Solution with def f)?"""
    names = re.findall(r"[A-Za-z_]\w*", entry_point)
    return bool(names) and all(re.search(rf"\b(?:def|class)\s+{re.escape(n)}\b", code)
                               for n in names)


def _strip_prose(text: str) -> str:
    """No fences: all of it if it parses, else from the first line that looks like code,
    the longest run that parses."""
    if _parses(text):
        return text.strip("\n")
    lines = text.strip().splitlines()
    start = next((i for i, line in enumerate(lines) if _CODE_START.match(line)), None)
    if start is None:
        return text.strip()
    lines = lines[start:]
    for end in range(len(lines), 0, -1):
        candidate = "\n".join(lines[:end])
        if _parses(candidate):
            return candidate
    return "\n".join(lines)


def _compiles(code: str) -> bool:
    """Does ``code`` compile (stricter than parsing: ``return`` outside a function fails)?"""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(code, "<reply>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def _body_indent(prompt: str) -> str | None:
    """The indentation of a body for the function ``prompt`` ends with (HumanEval: imports,
    the header and its docstring), or None when it does not end with a function."""
    defs = list(_DEF.finditer(prompt))
    if not defs:
        return None
    indent = defs[-1].group(1) + "    "
    return indent if _compiles(prompt.rstrip("\n") + "\n" + indent + "pass\n") else None


def _bodies(text: str, indent: str) -> list[str]:
    """``text`` read as a function body, the ways replies write one: as is (indented),
    flush left, or with its first line's indentation lost; prose around it dropped."""
    text = text.strip("\n")
    lines = text.splitlines()
    inner = [i for i, line in enumerate(lines) if line[:1] in (" ", "\t")]
    out = [text, textwrap.indent(textwrap.dedent(text), indent)]
    if inner:
        run = lines[inner[0]:inner[-1] + 1]
        if inner[0] == 1 and lines[0].strip():  # "s = set(l)" + indented rest: first line stripped
            pad = min(len(x) - len(x.lstrip()) for x in run if x.strip())
            fixed = " " * pad + lines[0] + "\n" + "\n".join(run)
            out.append(textwrap.indent(textwrap.dedent(fixed), indent))
        out.append(textwrap.indent(textwrap.dedent("\n".join(run)), indent))
    return out


def _as_body(reply: str, blocks: list[str], prompt: str) -> str | None:
    """A body-only reply (HumanEval completions) for the header in ``prompt``: the first
    reading of a block (else of the reply) that compiles as that function's body."""
    indent = _body_indent(prompt)
    if indent is None:
        return None
    for text in [*blocks, reply]:
        for body in _bodies(text, indent):
            if body.strip() and _compiles(prompt.rstrip("\n") + "\n" + body + "\n"):
                return body
    return None


def extract_program(reply: str, entry_point: str | None = None, prompt: str | None = None) -> str:
    """The program in a model's reply: fenced Python blocks (```python, ```py, bare ```)
    preferred, choosing the last one that defines ``entry_point``, else the last that
    parses, else the last; an unclosed final fence (a cut-off reply) counts only when no
    other block does. Without fences, the prose around the code is dropped. When the item
    gives the function header (``prompt``) and the reply does not define ``entry_point``,
    a reply that is only the function's body is taken as that body (indented to fit)."""
    blocks: list[tuple[str, bool]] = []  # (code, closed)
    for m in _FENCE.finditer(reply):
        if m.group(1).lower() in _PYTHON_TAGS:
            blocks.append((m.group(2).strip("\n"), m.group(0).rstrip().endswith("```")))
    closed = [code for code, ok in blocks if ok] or [code for code, _ in blocks]
    if entry_point and prompt and not any(_defines(c, entry_point) for c in closed or [reply]):
        body = _as_body(reply, closed[::-1], prompt)
        if body is not None:
            return body
    if not blocks:
        return _strip_prose(reply)
    if entry_point:
        defining = [c for c in closed if _defines(c, entry_point)]
        if defining:
            return defining[-1]
    parsing = [c for c in closed if _parses(c)]
    return (parsing or closed)[-1]


_pools: dict[tuple[int | None, float], Sandbox] = {}


def run_programs(kind: str, pairs: Sequence[tuple[str, Mapping[str, Any]]],
                 timeout_s: float = 5.0, workers: int | None = None,
                 on_progress: Progress | None = None) -> list[Result]:
    """Run already-extracted programs against their items' tests (``kind``: code_asserts,
    code_check or code_stdio), in parallel; ``timeout_s`` is the CPU limit per program
    (per case for stdio), the wall-clock limit twice that. One pool per (workers,
    timeout) is kept for the life of the process."""
    task = {"code_asserts": CodeAssertsTask, "code_check": CodeCheckTask,
            "code_stdio": CodeStdioTask}.get(kind)
    if task is None:
        raise DistillabError(f"run_programs: {kind!r} is not a code task kind",
                             "use code_asserts, code_check or code_stdio")
    with _default_lock:
        pool = _pools.get((workers, timeout_s))
        if pool is None:
            pool = Sandbox(workers=workers, cpu_time_s=timeout_s, wall_time_s=2 * timeout_s + 1)
            atexit.register(pool.close)
            _pools[(workers, timeout_s)] = pool
    programs = [task(pool).program(code, fields) for code, fields in pairs]
    return pool.run_many(programs, on_progress)


class _CodeTask(Task):
    """Shared flow of the code kinds; subclasses say how to build the Program."""

    def __init__(self, sandbox: Sandbox | None = None) -> None:
        self._sandbox = sandbox

    @property
    def sandbox(self) -> Sandbox:
        return self._sandbox or default_sandbox()

    def entry_point(self, fields: Mapping[str, Any]) -> str | None:
        value = fields.get("entry_point")
        return str(value) if value else None

    def header(self, fields: Mapping[str, Any]) -> str | None:
        """The code the program is run after, when the kind has one (``prompt``)."""
        return None

    def cut(self, reply: str, fields: Mapping[str, Any]) -> str:
        """The program in ``reply`` for this item."""
        return extract_program(reply, self.entry_point(fields), self.header(fields))

    def extract(self, text: str) -> str | None:
        code = extract_program(text)
        return code or None

    def program(self, code: str, fields: Mapping[str, Any]) -> Program:
        raise NotImplementedError

    def _verdict(self, code: str, result: Result) -> Verdict:
        return Verdict(result.passed, code, None, result.details)

    def verify(self, prediction: str, fields: Mapping[str, Any]) -> Verdict:
        code = self.cut(prediction, fields)
        return self._verdict(code, self.sandbox.run(self.program(code, fields)))

    def verify_many(self, predictions: Sequence[str], fields: Sequence[Mapping[str, Any]],
                    on_progress: Progress | None = None) -> list[Verdict]:
        if len(predictions) != len(fields):
            raise ValueError(f"{len(predictions)} predictions for {len(fields)} items")
        codes = [self.cut(p, f) for p, f in zip(predictions, fields, strict=True)]
        programs = [self.program(c, f) for c, f in zip(codes, fields, strict=True)]
        results = self.sandbox.run_many(programs, on_progress)
        return [self._verdict(c, r) for c, r in zip(codes, results, strict=True)]


class CodeAssertsTask(_CodeTask):
    """MBPP: a function plus ``assert`` lines."""

    kind: ClassVar[str] = "code_asserts"
    FIELDS: ClassVar[tuple[str, ...]] = ("tests", "test_setup")

    def program(self, code: str, fields: Mapping[str, Any]) -> Program:
        setup = str(fields.get("test_setup") or "")
        tests = [str(t) for t in fields["tests"]]
        return Program(code + ("\n\n" + setup if setup.strip() else ""), tuple(tests))


class CodeCheckTask(_CodeTask):
    """LeetCode / HumanEval: ``check(candidate)`` called on the entry point."""

    kind: ClassVar[str] = "code_check"
    FIELDS: ClassVar[tuple[str, ...]] = ("test", "entry_point", "prompt")

    def header(self, fields: Mapping[str, Any]) -> str | None:
        return str(fields.get("prompt") or "") or None

    def program(self, code: str, fields: Mapping[str, Any]) -> Program:
        prefix = str(fields.get("prompt") or "")
        test = f"{fields['test']}\n\ncheck({fields['entry_point']})\n"
        return Program(f"{prefix}\n{code}\n" if prefix else code, (test,))


def stdio_cases(tests: Any) -> tuple[tuple[str, str], ...]:
    """``[{"input", "output"}, ...]`` or ``{"input": [...], "output": [...]}`` as pairs."""
    if isinstance(tests, Mapping):
        return tuple(zip(map(str, tests["input"]), map(str, tests["output"]), strict=True))
    return tuple((str(t["input"]), str(t["output"])) for t in tests)


class CodeStdioTask(_CodeTask):
    """CodeContests: read stdin, write stdout; each case is its own process."""

    kind: ClassVar[str] = "code_stdio"
    FIELDS: ClassVar[tuple[str, ...]] = ("tests",)

    def program(self, code: str, fields: Mapping[str, Any]) -> Program:
        return Program(code, cases=stdio_cases(fields["tests"]))
