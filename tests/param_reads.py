"""What each stage's code reads, found statically: the audit behind the reuse-key tests.

For every stage of a paradigm, walks the source of the paradigm's package and of
``engine/paradigms/blocks.py`` from the stage function through every function it calls or
passes on (resolved by name, over-approximated: a name resolves to every function, method
or class of that name) and collects:

- other stages' parameters it reads through ``stage_params(ctx, "<stage>", ...)``, as the
  attribute path read off it, ``"<stage>.<field>[.<field>...]"`` (``"<stage>"`` when the
  whole object is used or passed on);
- recipe sections it reads through ``<x>.recipe.<section>`` (``"*"`` when the whole recipe
  is passed on, or the stage context is handed to code outside these files, which could
  read any section).

Over-approximation only ever asks for more to be declared (keys that change more often),
never less, so a stage that passes is keyed on everything its code can read.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PARADIGMS_DIR = Path(__file__).resolve().parent.parent / "engine" / "paradigms"
SECTIONS = ("dataset", "seed", "teacher", "student", "training", "evaluation")


@dataclass
class _Function:
    reads: set[str] = field(default_factory=set)
    sections: set[str] = field(default_factory=set)
    refs: set[str] = field(default_factory=set)
    hands_ctx: set[str] = field(default_factory=set)  # functions called with the context


def _constants(tree: ast.Module) -> dict[str, str]:
    out = {}
    for node in tree.body:
        if (isinstance(node, ast.Assign) and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)):
            out[node.targets[0].id] = node.value.value
    return out


def _parents(tree: ast.AST) -> dict[ast.AST, ast.AST]:
    return {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def _attr_path(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> list[str]:
    """The attribute names read off ``node`` (``x.a.b`` -> [a, b])."""
    path = []
    up = parents.get(node)
    while isinstance(up, ast.Attribute) and up.value is node:
        path.append(up.attr)
        node, up = up, parents.get(up)
    return path


def _stage_reads(fn: ast.AST, consts: dict[str, str], parents: dict[ast.AST, ast.AST],
                 out: _Function) -> None:
    aliases: dict[str, str] = {}
    for node in ast.walk(fn):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "stage_params" and len(node.args) >= 2):
            continue
        arg = node.args[1]
        stage = (arg.value if isinstance(arg, ast.Constant) else
                 consts.get(arg.id) if isinstance(arg, ast.Name) else None)
        if not isinstance(stage, str):
            raise AssertionError(f"stage_params with a stage name that is not a literal "
                                 f"(line {node.lineno}): declare it by hand")
        path = _attr_path(node, parents)
        parent = parents.get(node)
        if path:
            out.reads.add(".".join([stage, *path]))
        elif (isinstance(parent, ast.Assign) and len(parent.targets) == 1
              and isinstance(parent.targets[0], ast.Name)):
            aliases[parent.targets[0].id] = stage
        else:
            out.reads.add(stage)
    for node in ast.walk(fn):
        if isinstance(node, ast.Name) and node.id in aliases and isinstance(node.ctx, ast.Load):
            path = _attr_path(node, parents)
            out.reads.add(".".join([aliases[node.id], *path]))


def _section_reads(fn: ast.AST, parents: dict[ast.AST, ast.AST], out: _Function) -> None:
    for node in ast.walk(fn):
        if isinstance(node, ast.Attribute) and node.attr == "recipe":
            path = _attr_path(node, parents)
            if path and path[0] in SECTIONS:
                out.sections.add(path[0])
            elif not path or path[0] not in ("paradigm", "name", "description"):
                out.sections.add("*")


def _name(func: ast.expr) -> str:
    return func.id if isinstance(func, ast.Name) else \
        func.attr if isinstance(func, ast.Attribute) else "?"


def _is_ctx(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id == "ctx") or \
        (isinstance(node, ast.Attribute) and node.attr == "ctx")


def _locals(fn: ast.AST) -> set[str]:
    """Names the function binds itself (arguments, assignments): they shadow functions
    of that name (``train = ctx.items("train")`` is no call of the train stage)."""
    bound = {a.arg for sub in ast.walk(fn) if isinstance(sub, ast.arguments)
             for a in [*sub.posonlyargs, *sub.args, *sub.kwonlyargs]}
    bound |= {sub.id for sub in ast.walk(fn)
              if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store)}
    called = {sub.func.id for sub in ast.walk(fn)
              if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Name)}
    return bound - called  # ``task = task(ctx)`` still calls the function


def _called_or_own(node: ast.Attribute, parents: dict[ast.AST, ast.AST]) -> bool:
    """``x.f(...)`` or ``self.f``: a method or module function, not a plain field read."""
    parent = parents.get(node)
    return ((isinstance(parent, ast.Call) and parent.func is node)
            or (isinstance(node.value, ast.Name) and node.value.id == "self"))


def _functions(files: list[Path]) -> dict[str, list[_Function]]:
    table: dict[str, list[_Function]] = {}
    for path in files:
        tree = ast.parse(path.read_text(), str(path))
        consts, parents = _constants(tree), _parents(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                if isinstance(node, ast.FunctionDef) and node.name == "stage_params" \
                        and path.name == "blocks.py":
                    continue
                info = _Function()
                _stage_reads(node, consts, parents, info)
                _section_reads(node, parents, info)
                for sub in ast.walk(node):
                    if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
                        info.refs.add(sub.id)
                    elif isinstance(sub, ast.Attribute) and _called_or_own(sub, parents):
                        info.refs.add(sub.attr)
                info.refs -= _locals(node) | {node.name}
                info.hands_ctx = {_name(sub.func) for sub in ast.walk(node)
                                  if isinstance(sub, ast.Call) and any(
                                      _is_ctx(a) for a in [*sub.args,
                                                           *(k.value for k in sub.keywords)])}
                table.setdefault(node.name, []).append(info)
    return table


def _files(paradigm: str) -> list[Path]:
    package = PARADIGMS_DIR / paradigm
    return [*sorted(package.rglob("*.py")), PARADIGMS_DIR / "blocks.py"]


def stage_reads(paradigm: str, entry: str) -> tuple[set[str], set[str]]:
    """(other stages' parameters, recipe sections) the function ``entry`` can read."""
    table = _functions(_files(paradigm))
    seen: set[str] = set()
    todo = [entry]
    reads: set[str] = set()
    sections: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen or name not in table:
            continue
        seen.add(name)
        for info in table[name]:
            reads |= info.reads
            sections |= info.sections
            todo.extend(info.refs - seen)
            if info.hands_ctx - set(table) - {"stage_params"}:  # code elsewhere gets the context
                sections.add("*")
    return reads, sections


def all_stage_reads(paradigm: str, entries: dict[str, str]) -> Iterator[tuple[str, set[str],
                                                                              set[str]]]:
    for stage, entry in entries.items():
        reads, sections = stage_reads(paradigm, entry)
        yield stage, reads, sections
