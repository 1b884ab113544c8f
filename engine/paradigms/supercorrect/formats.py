"""Parsers for SuperCorrect's XML: thought templates and first-wrong-step corrections.

A template (``recipes/prompts/supercorrect/template.j2``)::

    <Step1>... <Key>...</Key> ...</Step1>
    <Step2>...</Step2>
    <Generalized>...</Generalized>
    <Answer>...</Answer>

A correction (``correct.j2``, ``self_correct.j2``)::

    <Step3><Cause>...</Cause><Correction>...</Correction></Step3>
    <Answer>...</Answer>

The parsers read the tags as a tree. Only an unambiguous fault is repaired: the last
tag left open at the very end (a cut-off answer), which is closed there (``repaired``).
Anything else is flagged with its reason and kept out of training: a step opened inside
another step, a tag closed out of turn, no steps, steps out of order or repeated, no
``<Answer>``. Writers give the normalised forms the student trains on
(``render_template``, ``steps_text``, ``step_block``); ``answer_text`` reads the answer to
verify; ``read_self_correction`` reads a student's prefilled self-correction leniently.
Text only: no store, no model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.steps import Piece

_TAG = re.compile(r"<(/?)(Step\s*\d+|Key|Generalized|Answer|Cause|Correction)\s*>", re.IGNORECASE)


@dataclass
class _Node:
    name: str  # "step", "key", "generalized", "answer", "cause", "correction"
    number: int | None
    start: int  # where the content starts
    end: int = -1
    children: list[_Node] = field(default_factory=list)


def _name(raw: str) -> tuple[str, int | None]:
    lowered = re.sub(r"\s+", "", raw.lower())
    if lowered.startswith("step"):
        return "step", int(lowered[4:])
    return lowered, None


def _tree(text: str) -> tuple[list[_Node], list[str], str]:
    """Top-level nodes, repairs made, and the first structural problem ('' if none)."""
    top: list[_Node] = []
    stack: list[_Node] = []
    for token in _TAG.finditer(text):
        name, number = _name(token.group(2))
        if not token.group(1):  # opening tag
            inside = next((n for n in stack if n.name == "step"), None)
            if inside is not None and name in ("step", "generalized", "answer"):
                return top, [], (f"<{token.group(2)}> opens inside <Step{inside.number}>: "
                                 f"nested tags (is <Step{inside.number}> closed?)")
            node = _Node(name, number, token.end())
            (stack[-1].children if stack else top).append(node)
            stack.append(node)
            continue
        if not stack or (stack[-1].name, stack[-1].number) != (name, number):
            open_tag = f"<{_label(stack[-1])}>" if stack else "no open tag"
            return top, [], f"</{token.group(2)}> closes {open_tag}"
        stack.pop().end = token.start()
    if len(stack) == 1 and stack[0] is top[-1]:
        stack[0].end = len(text)  # a cut-off last tag: the one repair made
        return top, [f"closed the unclosed last tag <{_label(stack[0])}>"], ""
    if stack:
        return top, [], f"<{_label(stack[0])}> is never closed"
    return top, [], ""


def _label(node: _Node) -> str:
    return f"Step{node.number}" if node.name == "step" else node.name.capitalize()


def _inner(text: str, node: _Node) -> str:
    return text[node.start:node.end].strip()


@dataclass(frozen=True)
class TemplateStep:
    number: int
    text: str  # the step's whole content, its <Key> included
    keys: list[str]


@dataclass(frozen=True)
class Template:
    """A parsed thought template; ``reason`` is '' when it is usable for training."""

    steps: list[TemplateStep]
    generalized: str | None
    answer: str | None
    reason: str
    repaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.reason

    def pieces(self) -> list[Piece]:
        """Steps to store: each step, its keys, the generalized summary, the answer."""
        out: list[Piece] = []
        for step in self.steps:
            out.append(Piece("step", step.text))
            out += [Piece("key", k) for k in step.keys]
        if self.generalized is not None:
            out.append(Piece("generalized", self.generalized))
        if self.answer is not None:
            out.append(Piece("answer", self.answer))
        return out


def strip_keys(text: str) -> str:
    """A step's text without its ``<Key>`` notes (the step's own reasoning)."""
    return re.sub(r"<Key>.*?(?:</Key>|$)", "", text, flags=re.DOTALL | re.IGNORECASE).strip()


def parse_template(text: str) -> Template:
    top, repaired, problem = _tree(text)
    steps = [TemplateStep(n.number or 0, _inner(text, n),
                          [_inner(text, c) for c in n.children if c.name == "key"])
             for n in top if n.name == "step"]
    generalized = next((_inner(text, n) for n in reversed(top) if n.name == "generalized"), None)
    answer = next((_inner(text, n) for n in reversed(top) if n.name == "answer"), None)
    reason = problem
    numbers = [s.number for s in steps]
    if not reason and not steps:
        reason = "no <Step1>...</Step1> steps"
    elif not reason and numbers != list(range(1, len(numbers) + 1)):
        reason = f"steps out of order or missing: {', '.join(str(n) for n in numbers)}"
    elif not reason and not answer:
        reason = "no <Answer>...</Answer>"
    elif not reason and any(n.name in ("cause", "correction") for n in top):
        reason = "a correction's tags (<Cause>, <Correction>) in a template"
    return Template(steps, generalized, answer, reason, repaired)


@dataclass(frozen=True)
class Correction:
    """A parsed correction of the first wrong step; ``reason`` is '' when usable."""

    step: int | None
    cause: str | None
    correction: str | None
    answer: str | None
    reason: str
    repaired: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.reason


def parse_correction(text: str) -> Correction:
    top, repaired, problem = _tree(text)
    wrapper = next((n for n in top if n.name == "step"), None)
    holder = wrapper.children if wrapper is not None else top
    cause = next((_inner(text, n) for n in holder if n.name == "cause"), None)
    fixed = next((_inner(text, n) for n in holder if n.name == "correction"), None)
    answer = next((_inner(text, n) for n in reversed(top) if n.name == "answer"), None)
    step = wrapper.number if wrapper is not None else None
    if step is None and cause:  # no step tag: a cause that names its step will do
        named = re.search(r"\bstep\s*(\d+)", cause, re.IGNORECASE)
        if named:
            step = int(named.group(1))
            repaired = [*repaired, f"the step number taken from the cause (Step {step})"]
    reason = problem
    if not reason and step is None:
        reason = "the correction does not say which step it corrects (<StepK>...</StepK>)"
    elif not reason and not cause:
        reason = "no <Cause>...</Cause>"
    elif not reason and not fixed:
        reason = "no <Correction>...</Correction>"
    elif not reason and not answer:
        reason = "no <Answer>...</Answer>"
    return Correction(step, cause, fixed, answer, reason, repaired)


# -- writers and lenient readers -----------------------------------------------------------

_ANSWER = re.compile(r"<Answer>\s*(.*?)\s*(?:</Answer>|$)", re.DOTALL | re.IGNORECASE)


def answer_text(text: str) -> str:
    """What to verify: the last ``<Answer>`` tag's text (closed or cut off at the end), or
    the whole text when there is none."""
    found = _ANSWER.findall(text)
    return found[-1].strip() if found else text


def step_block(number: int, body: str) -> str:
    return f"<Step{number}>\n{body.strip()}\n</Step{number}>"


def steps_text(steps: Sequence[TemplateStep]) -> str:
    """Steps in the normalised form, each followed by a newline (a pair's shared prefix)."""
    return "".join(step_block(s.number, s.text) + "\n" for s in steps)


def render_template(template: Template) -> str:
    """A usable template in the normalised form the student learns (a repaired one closed)."""
    parts = [steps_text(template.steps).rstrip("\n")]
    if template.generalized is not None:
        parts.append(f"<Generalized>{template.generalized}</Generalized>")
    parts.append(f"<Answer>{template.answer}</Answer>")
    return "\n".join(parts)


def correction_block(number: int, cause: str | None, correction: str) -> str:
    """Step ``number`` corrected: with its ``<Cause>`` (the meta-information) when given."""
    body = f"<Cause>{cause.strip()}</Cause>\n" if cause else ""
    return step_block(number, f"{body}<Correction>{correction.strip()}</Correction>")


def self_correction_prefill(number: int) -> str:
    """What the student's self-correction answer starts with: its cause for step ``number``."""
    return f"<Step{number}>\n<Cause>"


_OPEN_OR_CLOSE = re.compile(r"</?(?:Step\s*\d+|Key|Generalized|Answer|Cause|Correction)\s*>",
                            re.IGNORECASE)


def _lenient(text: str, tag: str) -> str | None:
    """The text after ``<tag>`` up to its close or the next tag (None if never opened)."""
    opened = re.search(rf"<{tag}\s*>", text, re.IGNORECASE)
    if opened is None:
        return None
    rest = text[opened.end():]
    close = _OPEN_OR_CLOSE.search(rest)
    return (rest[:close.start()] if close else rest).strip() or None


def read_self_correction(text: str) -> tuple[str | None, str | None]:
    """A student's self-correction (its prefill included) read leniently: the cause and the
    correction, each up to its closing tag or the next tag; None where it wrote none."""
    return _lenient(text, "Cause"), _lenient(text, "Correction")
