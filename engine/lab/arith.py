"""The ``arith`` task family: seeded multi-step arithmetic word problems in the GSM8K shape.

A problem follows one running total through 2-5 changes ("Mia has 347 apples. She sells
129 of them. ..."), so its gold solution is one calculation per change::

    Step 1: 347 - 129 = 218.
    Step 2: 218 + 56 = 274.
    The answer is 274.

Dials: ``digits`` of every number the question states (a multiplier is one digit, 2-9),
``ops`` (the number of changes, 2-5), ``mix`` (which of ``+ - x`` may occur) and
``distractors`` (sentences whose numbers play no part). ``generate`` is deterministic
for a seed and never repeats a question. ``parse_question`` reads a question back into
its numbers (the scripted teacher uses it to solve what it is asked). Knows nothing of
the store, recipes or the teacher.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

OPS = ("+", "-", "*")
MIX_LETTERS = {"+": "+", "-": "-", "x": "*", "*": "*"}
MIN_OPS, MAX_OPS = 2, 5
MAX_DIGITS = 6

NAMES = (("Mia", "she"), ("Leo", "he"), ("Ava", "she"), ("Noah", "he"), ("Zoe", "she"),
         ("Omar", "he"), ("Lena", "she"), ("Ravi", "he"), ("Ines", "she"), ("Tom", "he"),
         ("Sara", "she"), ("Ivan", "he"), ("Nora", "she"), ("Kofi", "he"), ("Emma", "she"),
         ("Hugo", "he"), ("Yara", "she"), ("Finn", "he"), ("Rosa", "she"), ("Amir", "he"))
THINGS = ("apples", "pencils", "marbles", "stickers", "books", "cards", "coins", "shells",
          "beads", "stamps", "cookies", "eggs", "bottles", "candles", "buttons", "postcards",
          "seeds", "tickets", "balloons", "toy cars")

# Sentence templates. Placeholders: {Name} {Pro} (She/He) {things} {n}, and for
# distractors {Other} {others}. Each appears at most once per template (parse_question
# turns them into named regex groups).
START = ("{Name} has {n} {things}.",
         "{Name} starts the day with {n} {things}.",
         "There are {n} {things} in {Name}'s shop.")
CHANGE = {
    "+": ("{Pro} buys {n} more {things}.",
          "Then {Name} receives {n} more {things}.",
          "A delivery brings {n} more {things}."),
    "-": ("{Pro} sells {n} of them.",
          "Then {Name} gives away {n} {things}.",
          "{n} of the {things} get lost."),
    "*": ("Then the number of {things} becomes {n} times as large.",
          "{Pro} swaps each of the {things} for {n} new ones.",
          "After a good week, {Name} has {n} times as many {things} as before."),
}
DISTRACTOR = ("{Other} has {n} {others}.",
              "The shop opened {n} days ago.",
              "{Name}'s friend {Other} owns {n} {others}.",
              "Each of the {things} weighs {n} grams.")
QUESTION = ("How many {things} does {Name} have now?",
            "How many {things} are there at the end?",
            "How many {things} does {Name} have in the end?")


@dataclass(frozen=True)
class Dials:
    """How hard a problem is; every field is checked with a message naming the dial."""

    digits: int = 3
    ops: int = 3
    mix: str = "+-x"
    distractors: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.digits <= MAX_DIGITS:
            raise ValueError(f"digits must be 1 to {MAX_DIGITS}, got {self.digits}")
        if not MIN_OPS <= self.ops <= MAX_OPS:
            raise ValueError(f"ops must be {MIN_OPS} to {MAX_OPS}, got {self.ops}")
        bad = sorted(set(self.mix) - set(MIX_LETTERS))
        if bad or not self.mix:
            raise ValueError(f"mix must be letters from '+-x' (e.g. '+-' or '+-x'), got "
                             f"{self.mix!r}")
        if not 0 <= self.distractors <= 4:
            raise ValueError(f"distractors must be 0 to 4, got {self.distractors}")

    @property
    def operators(self) -> tuple[str, ...]:
        return tuple(sorted({MIX_LETTERS[c] for c in self.mix}, key=OPS.index))

    def as_dict(self) -> dict[str, Any]:
        return {"digits": self.digits, "ops": self.ops, "mix": self.mix,
                "distractors": self.distractors}


@dataclass(frozen=True)
class Step:
    """One calculation: ``a op b = result``."""

    a: int
    op: str
    b: int
    result: int

    def text(self, number: int) -> str:
        return f"Step {number}: {self.a} {self.op} {self.b} = {self.result}."

    def as_dict(self) -> dict[str, Any]:
        return {"a": self.a, "op": self.op, "b": self.b, "result": self.result}


def apply(a: int, op: str, b: int) -> int:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    raise ValueError(f"unknown operator {op!r}")


def chain_text(steps: list[Step] | tuple[Step, ...], answer: int | None = None,
               first: int = 1) -> str:
    """Steps in the gold format, numbered from ``first``, then "The answer is N."."""
    lines = [s.text(first + i) for i, s in enumerate(steps)]
    final = answer if answer is not None else steps[-1].result
    return "\n".join([*lines, f"The answer is {final}."])


def run_steps(start: int, changes: list[tuple[str, int]]) -> list[Step]:
    """The running-total steps for ``start`` and its changes."""
    steps, value = [], start
    for op, n in changes:
        result = apply(value, op, n)
        steps.append(Step(value, op, n, result))
        value = result
    return steps


@dataclass(frozen=True)
class ArithItem:
    """One problem: the question, its steps as data, the numbers that play no part."""

    question: str
    steps: tuple[Step, ...]
    distractors: tuple[int, ...] = ()
    dials: Dials = field(default_factory=Dials)

    @property
    def answer(self) -> int:
        return self.steps[-1].result

    @property
    def solution(self) -> str:
        return chain_text(self.steps)

    @property
    def id(self) -> str:
        return "arith-" + hashlib.sha256(self.question.encode()).hexdigest()[:12]

    def record(self) -> dict[str, Any]:
        """The JSONL record: question, answer, gold solution, steps as data, dials."""
        return {"id": self.id, "family": "arith", "question": self.question,
                "answer": str(self.answer), "solution": self.solution,
                "steps": [s.as_dict() for s in self.steps],
                "distractors": list(self.distractors), "dials": self.dials.as_dict()}


def item_from(data: Mapping[str, Any]) -> ArithItem:
    """An item from its record (a JSONL line or a stored item's fields)."""
    try:
        steps = tuple(Step(int(s["a"]), str(s["op"]), int(s["b"]), int(s["result"]))
                      for s in data["steps"])
        dials = Dials(**data["dials"]) if isinstance(data.get("dials"), dict) else Dials(
            ops=max(MIN_OPS, min(MAX_OPS, len(steps))))
        return ArithItem(str(data["question"]), steps,
                         tuple(int(n) for n in data.get("distractors") or ()), dials)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not an arith record (needs question, steps with a/op/b/result): "
                         f"{exc}") from None


# -- generating ------------------------------------------------------------------------
def _number(rng: random.Random, digits: int) -> int:
    return rng.randint(10 ** (digits - 1) if digits > 1 else 1, 10 ** digits - 1)


def _fill(template: str, scene: dict[str, str], n: int) -> str:
    values = {**scene, "n": str(n)}
    text = template.format(**values)
    return text[0].upper() + text[1:]


def _changes(rng: random.Random, dials: Dials, start: int) -> list[tuple[str, int]] | None:
    """Operations and numbers for one problem; None when the mix cannot go on (only '-'
    and a total too small to take a number of ``digits`` digits from)."""
    value, out = start, []
    low = 10 ** (dials.digits - 1) if dials.digits > 1 else 1
    for _ in range(dials.ops):
        choices = [op for op in dials.operators if op != "-" or value - 1 >= low]
        if not choices:
            return None
        op = rng.choice(choices)
        n = rng.randint(2, 9) if op == "*" else (
            rng.randint(low, min(10 ** dials.digits - 1, value - 1)) if op == "-"
            else _number(rng, dials.digits))
        out.append((op, n))
        value = apply(value, op, n)
    return out


def make_item(rng: random.Random, dials: Dials) -> ArithItem:
    """One random problem with these dials."""
    for _ in range(1000):
        start = _number(rng, dials.digits)
        changes = _changes(rng, dials, start)
        if changes is not None:
            break
    else:
        raise ValueError(f"no problem fits the dials {dials.as_dict()}: with only '-' the "
                         "total runs out; allow '+' or 'x', or use fewer ops")
    name, pro = rng.choice(NAMES)
    things, others = rng.sample(THINGS, 2)
    others_names = rng.sample([n for n, _ in NAMES if n != name], 2)
    scene = {"Name": name, "Pro": pro.capitalize(), "things": things, "others": others}
    sentences = [_fill(rng.choice(START), scene, start)]
    sentences += [_fill(rng.choice(CHANGE[op]), scene, n) for op, n in changes]
    numbers: dict[str, int] = {}
    for template in rng.sample(DISTRACTOR, dials.distractors):
        n = _number(rng, dials.digits)
        # the two templates with another person get two different people
        other = others_names[0] if template.startswith("{Other}") else others_names[1]
        text = _fill(template, {**scene, "Other": other}, n)
        numbers[text] = n
        # anywhere after the first sentence, but never just before a sentence that says
        # "She ..." or "of them" (they would then seem to be about the distractor)
        places = [i for i in range(1, len(sentences) + 1)
                  if i == len(sentences) or not _leans_back(sentences[i])]
        sentences.insert(rng.choice(places), text)
    sentences.append(_fill(rng.choice(QUESTION), scene, 0))
    distractors = tuple(numbers[s] for s in sentences if s in numbers)  # in reading order
    return ArithItem(" ".join(sentences), tuple(run_steps(start, changes)), distractors, dials)


def _leans_back(sentence: str) -> bool:
    return sentence.startswith(("She ", "He ")) or "of them" in sentence


def generate(n: int, dials: Dials, seed: int) -> list[ArithItem]:
    """``n`` problems with distinct questions, the same ones for the same seed and dials."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    rng = random.Random(f"arith:{seed}:{sorted(dials.as_dict().items())}")
    seen: set[str] = set()
    out: list[ArithItem] = []
    misses = 0
    while len(out) < n:
        item = make_item(rng, dials)
        if item.question in seen:
            misses += 1
            # the question space is huge (names x things x templates x numbers); more
            # repeats than problems asked for mean the dials leave too few distinct ones
            if misses > 1000 + n:
                raise ValueError(f"only {len(out)} distinct questions found for these dials; "
                                 "ask for fewer, or raise digits or ops")
            continue
        seen.add(item.question)
        out.append(item)
    return out


# -- reading a question back -----------------------------------------------------------
_GROUPS = {"Name": r"(?P<Name>[A-Z][a-z]+)", "Pro": r"(?:She|He)",
           "things": r"(?P<things>[a-z]+(?: [a-z]+)?)", "n": r"(?P<n>\d+)",
           "Other": r"(?P<Other>[A-Z][a-z]+)", "others": r"(?P<others>[a-z]+(?: [a-z]+)?)"}


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", template)
    regex = "".join(_GROUPS[p] if i % 2 else re.escape(p) for i, p in enumerate(parts))
    return re.compile(regex)


_START_RE = [_pattern(t) for t in START]
_CHANGE_RE = [(op, _pattern(t)) for op, ts in CHANGE.items() for t in ts]
_DISTRACTOR_RE = [_pattern(t) for t in DISTRACTOR]
_QUESTION_RE = [_pattern(t) for t in QUESTION]
_SENTENCE = re.compile(r"[^.?!]+[.?!]")


@dataclass(frozen=True)
class Parsed:
    """A question read back: the start, each change, the unused numbers, the sentences."""

    start: int
    changes: tuple[tuple[str, int], ...]
    distractors: tuple[int, ...]
    things: str
    change_sentences: tuple[str, ...]

    @property
    def steps(self) -> list[Step]:
        return run_steps(self.start, list(self.changes))


def parse_question(text: str) -> Parsed | None:
    """Read an ``arith`` question back into numbers; None if it is not one."""
    sentences = [s.strip() for s in _SENTENCE.findall(text.strip())]
    if len(sentences) < 3:
        return None
    first = next((m for r in _START_RE if (m := r.fullmatch(sentences[0]))), None)
    if first is None or not any(r.fullmatch(sentences[-1]) for r in _QUESTION_RE):
        return None
    changes, distractors, said = [], [], []
    for sentence in sentences[1:-1]:
        found = next(((op, m) for op, r in _CHANGE_RE if (m := r.fullmatch(sentence))), None)
        if found is not None:
            changes.append((found[0], int(found[1].group("n"))))
            said.append(sentence)
            continue
        other = next((m for r in _DISTRACTOR_RE if (m := r.fullmatch(sentence))), None)
        if other is None:
            return None
        distractors.append(int(other.group("n")))
    if not changes:
        return None
    return Parsed(int(first.group("n")), tuple(changes), tuple(distractors),
                  first.group("things"), tuple(said))
