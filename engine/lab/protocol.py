"""Which request a prompt is: the scripted teacher reads it from the answer format asked for.

Every shipped lab prompt (``recipes/prompts/<paradigm>/*.j2``) is a prompt for a real
teacher: instructions, the answer format spelled out, then labelled sections
(``Question:``, ``Solution:``...). The scripted teacher looks for the phrase each
format is named by (``KINDS``, checked in order, most specific first) and reads the
labelled sections; docs/lab.md lists the same table. Where a section occurs more than
once (few-shot examples), the last one is the query.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# kind -> the phrase in the prompt that asks for its answer format
KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # the judge's prompts (engine/tasks/openended.py) come first: the answers they quote
    # may contain any other format's phrase
    ("judge.pairwise", re.compile(r"end with \[\[A\]\], \[\[B\]\] or \[\[tie\]\]")),
    ("judge.rubric", re.compile(r"end with a line exactly like: Score: N")),
    ("reer.edit", re.compile(r"<refine>.*<replace>|<replace>.*<refine>", re.DOTALL)),
    ("reer.draft", re.compile(r"<think>")),
    ("supercorrect.correct", re.compile(r"<Cause>")),
    ("supercorrect.template", re.compile(r"<Generalized>")),
    ("lema.correct", re.compile(r"Incorrect Step:.*Correct Solution:", re.DOTALL)),
    ("lema.evolve", re.compile(r"New Question 1:")),
    ("elad.verify_all", re.compile(r'"Step k: Yes"')),
    ("elad.verify_step", re.compile(r"Is Step \d+ correct\?\s*$")),
    ("elad.revise", re.compile(r"correct solution from Step \d+ on", re.IGNORECASE)),
    ("answer", re.compile(r"only the final answer", re.IGNORECASE)),
    ("cot.solve", re.compile(r"The answer is (?:N|<number>)\.")),
)

# Labels that open a section: a line that starts with one of them and a colon.
LABELS = ("Question", "Solution", "Original Solution", "Reference solution",
          "Student solution", "Task", "Answer", "Thinking", "Incorrect Step", "Explanation",
          "Correct Solution")
_LABEL_LINE = re.compile(rf"^(?P<label>{'|'.join(re.escape(x) for x in LABELS)}):[ \t]*",
                         re.MULTILINE)


@dataclass(frozen=True)
class LabRequest:
    """A recognised request: its kind and the prompt text it came from."""

    kind: str
    text: str

    def section(self, label: str) -> str | None:
        return section(self.text, label)

    def number(self, pattern: str) -> int | None:
        """The first group of the last match of ``pattern`` as an int."""
        found = re.findall(pattern, self.text, re.IGNORECASE)
        return int(found[-1]) if found else None


def prompt_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The system and user messages joined (the teacher reads them as one prompt)."""
    parts = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):  # content parts: keep the text ones
            content = "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        if message.get("role") in ("system", "user", "developer") and content:
            parts.append(str(content))
    return "\n\n".join(parts)


def recognise(messages: Sequence[Mapping[str, Any]]) -> LabRequest | None:
    text = prompt_text(messages)
    for kind, pattern in KINDS:
        if pattern.search(text):
            return LabRequest(kind, text)
    return None


def section(text: str, label: str) -> str | None:
    """The text after the last ``label:`` line start, up to the next label line or the
    end; surrounding braces (LEMA's ``{ ... }``) and blank lines stripped."""
    starts = [m for m in _LABEL_LINE.finditer(text) if m.group("label") == label]
    if not starts:
        return None
    begin = starts[-1].end()
    following = [m.start() for m in _LABEL_LINE.finditer(text, begin)]
    body = text[begin:following[0] if following else len(text)].strip()
    if body.startswith("{") and body.endswith("}"):
        body = body[1:-1].strip()
    return body
