"""How many verdicts on MATH and GSM8K gold answers change between two verifier versions.

    python bench/verifier_drift.py [--old a4ca569] [--examples 3]

The old verifier is loaded from git (``engine/tasks/extract.py`` at ``--old``, the version
before issue 12) and run with the same extraction rules it had; the new one is this tree's.
Both check, on ../shared/datasets (``DISTILLAB_DATASETS``): every gold against itself, the
same golds rewritten in equivalent ways (must pass), and the golds with their last digit
changed (must fail). Prints counts per kind of rewrite with examples, and ends with
``verdict_changes: N`` (the cases whose verdict differs).
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import signal
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.datasets_shared import read_records  # noqa: E402
from engine.tasks import get_task  # noqa: E402
from engine.tasks.extract import last_boxed  # noqa: E402

OLD_LIMIT_S = 5  # the old verifier had no time limit: one check past this counts as failed


def load_old(ref: str) -> ModuleType:
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{ref}:engine/tasks/extract.py"],
                            check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "old_extract.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_extract", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Slow(Exception):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _Slow


def old_verifiers(old: ModuleType) -> tuple[Callable[[str, object], bool], Callable[[str, str], bool]]:
    """The old gsm8k and math_boxed verify, as engine/tasks/math.py had them."""
    hashes = re.compile(r"####\s*([^\n]+)")

    def gsm_extract(text: str) -> str | None:
        found = hashes.findall(text)
        if found:
            return old.last_number(found[-1])
        stated = old.answer_is(text)
        if stated is not None and old.last_number(stated) is not None:
            return old.last_number(stated)
        return old.last_number(text)

    def gsm(pred: str, gold: object) -> bool:
        g, p = gsm_extract(str(gold)), gsm_extract(pred)
        a = old.to_number(p) if p is not None else None
        b = old.to_number(g) if g is not None else None
        return a is not None and a == b

    def answer_or_text(extracted: str | None, text: str) -> str | None:
        if extracted is not None:
            return extracted
        stripped = text.strip()
        return stripped if stripped and len(stripped) <= 100 else None

    def boxed(pred: str, gold_text: str) -> bool:
        gold = answer_or_text(old.last_boxed(gold_text), gold_text)
        b = old.last_boxed(pred)
        stated = old.answer_is(pred)
        extracted = b.strip() if b is not None else (stated.strip("$ ") if stated else None)
        predicted = answer_or_text(extracted, pred)
        if predicted is None or gold is None:
            return False
        signal.alarm(OLD_LIMIT_S)
        try:
            return bool(old.math_equal(predicted, gold))
        except _Slow:
            return False
        finally:
            signal.alarm(0)

    return gsm, boxed


def last_digit_changed(text: str) -> str | None:
    """The last digit of the value changed (not one in a unit: ``440\\text{ cm}^2``)."""
    unit = re.search(r"\\(?:text|mbox)\s*\{", text)
    value = text[:unit.start()] if unit and unit.start() > 0 else text
    digits = [m.start() for m in re.finditer(r"\d", value)]
    if not digits:
        return None
    i = digits[-1]
    d = int(text[i])
    return text[:i] + str(d + 1 if d < 9 else d - 1) + text[i + 1:]


def math_rewrites(gold: str) -> Iterator[tuple[str, str]]:
    """(kind, the gold written another way that means the same)."""
    yield "as is", gold
    yield "sentence", f"The final answer is $\\boxed{{{gold}}}$."
    yield "dfrac", gold.replace("\\frac", "\\dfrac")
    yield "spaces", re.sub(r"(?<!\\)\}", " }", re.sub(r"(?<!\\)\{", "{ ", gold.replace(",", ", ")))
    m = re.fullmatch(r"(-?)\\frac\{(\d+)\}\{(\d+)\}", gold)
    if m:
        yield "a/b", f"{m.group(1)}{m.group(2)}/{m.group(3)}"
        v = Fraction(int(m.group(2)), int(m.group(3)))
        if int(m.group(2)) > int(m.group(3)) and v.denominator > 1:
            whole, rest = divmod(v.numerator, v.denominator)
            yield "mixed number", f"{m.group(1)}{whole}\\frac{{{rest}}}{{{v.denominator}}}"
    m = re.fullmatch(r"(\d+)\\frac\{?(\d+)\}?\{?(\d+)\}?", gold)
    if m:
        v = int(m.group(1)) + Fraction(int(m.group(2)), int(m.group(3)))
        yield "improper", f"\\frac{{{v.numerator}}}{{{v.denominator}}}"
        yield "decimal of mixed", str(float(v)) if len(str(float(v))) < 8 else gold
    if re.fullmatch(r"-?\d+", gold):
        yield "n.0", gold + ".0"
        yield "unit", gold + "\\text{ units}"
        yield "x =", "x = " + gold
        if abs(int(gold)) >= 1000:
            yield "{,}", f"{int(gold):,}".replace(",", "{,}")
    if re.fullmatch(r"-?\d*\.\d+", gold):
        num, den = Fraction(gold).as_integer_ratio()
        yield "fraction of decimal", f"\\frac{{{num}}}{{{den}}}"
    if "," in gold and not re.search(r"[()\[\]{}!]", gold):  # not 14,\!400
        yield "list reversed", ", ".join(reversed([p.strip() for p in gold.split(",")]))


def math_wrongs(gold: str) -> Iterator[tuple[str, str]]:
    """(kind, a wrong answer close to the gold) that must fail."""
    wrong = last_digit_changed(gold)
    if wrong is not None and wrong != gold:
        yield "last digit changed", wrong
    m = re.fullmatch(r"(\d+)(\\frac\{?\d+\}?\{?\d+\}?)", gold)
    if m:
        yield "fraction part of a mixed number", m.group(2)
    m = re.fullmatch(r"\\text\{([A-Za-z]{3,})\}", gold)
    if m and sorted(m.group(1)) != list(m.group(1)):
        letters = "".join(sorted(m.group(1)))
        yield "text, letters sorted", f"\\text{{{letters}}}"


def _decimal(v: Fraction) -> str:
    text = f"{float(v):.10f}".rstrip("0").rstrip(".")
    assert Fraction(text) == v
    return text


def gsm_rewrites(gold: str) -> Iterator[tuple[str, str, object]]:
    """(kind, reply, gold field) that must pass."""
    n = int(gold)
    yield "The answer is N.", f"So in total... The answer is {gold}.", gold
    yield "bare", gold, gold
    yield "$N", f"The answer is ${gold}.", gold
    yield "N because ... numbers", f"The answer is {gold} because she sells 9 eggs at $2 each.", gold
    yield "calculation", f"The answer is 2 + {n - 2} = {gold}.", gold
    yield "float gold", f"The answer is {gold}.", float(n)
    yield "N.0", f"The answer is {gold}.0", gold
    small = Fraction(n, 10**6)  # the same digits as a float gold that prints as 1.8e-05
    yield "float gold N/10^6", f"The answer is {_decimal(small)}.", n / 10**6
    if abs(n) >= 1000:
        yield "1,234", f"The answer is {n:,}.", gold
        yield "1 234", f"The answer is {n:,}".replace(",", " "), gold
    if n < 0:
        yield "unicode minus", f"The answer is \u2212{-n}.", gold
        yield "-$N", f"The answer is -${-n}.", gold


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--old", default="a4ca569", help="git ref of the old verifier")
    parser.add_argument("--examples", type=int, default=3)
    args = parser.parse_args()
    signal.signal(signal.SIGALRM, _alarm)
    old_gsm, old_boxed = old_verifiers(load_old(args.old))
    boxed, gsm = get_task("math_boxed"), get_task("gsm8k")
    changes: dict[str, Counter[str]] = defaultdict(Counter)
    examples: dict[str, list[str]] = defaultdict(list)

    def tally(group: str, kind: str, want: bool, old: bool, new: bool, what: str) -> None:
        c = changes[f"{group}: {kind}"]
        c["n"] += 1
        c["old right"] += old == want
        c["new right"] += new == want
        if old != new:
            c["changed"] += 1
            key = f"{group}: {kind}: {'fixed' if new == want else 'broken'}"
            if len(examples[key]) < args.examples:
                examples[key].append(what)

    for row in read_records("math/test.jsonl"):
        gold = last_boxed(row["solution"])
        if gold is None:
            continue
        fields = {"answer": row["solution"], "question": row["problem"]}
        for kind, written in math_rewrites(gold):
            tally("MATH right", kind, True, old_boxed(written, row["solution"]),
                  boxed.verify(written, fields).passed, f"{written!r} vs gold {gold!r}")
        for kind, wrong in math_wrongs(gold):
            tally("MATH wrong", kind, False, old_boxed(wrong, row["solution"]),
                  boxed.verify(wrong, fields).passed, f"{wrong!r} vs gold {gold!r}")
    for split in ("test", "train"):
        for row in read_records(f"gsm8k/{split}.jsonl"):
            gold = row["answer"].split("####")[-1].strip().replace(",", "")
            tally("GSM8K right", "worked solution", True, old_gsm(row["answer"], row["answer"]),
                  gsm.verify(row["answer"], row).passed, gold)
            for kind, reply, field in gsm_rewrites(gold):
                tally("GSM8K right", kind, True, old_gsm(reply, field),
                      gsm.verify(reply, {"answer": field}).passed, f"{reply!r} vs {field!r}")
            wrong = last_digit_changed(gold)
            assert wrong is not None
            small = _decimal(Fraction(int(wrong), 10**6))
            for kind, reply in (("The answer is N'", f"The answer is {wrong}."),
                                ("N' with a float gold", f"The answer is {wrong}."),
                                ("N'/10^6 with float gold N/10^6", f"The answer is {small}.")):
                field: object = (int(gold) / 10**6 if "10^6" in kind else float(gold)
                                 if "float" in kind else row["answer"])
                tally("GSM8K wrong", kind, False, old_gsm(reply, field),
                      gsm.verify(reply, {"answer": field}).passed, f"{reply!r} vs {field!r}")

    total = 0
    print(f"{'case':52} {'n':>6} {'old right':>10} {'new right':>10} {'changed':>8}")
    for name in sorted(changes):
        c = changes[name]
        total += c["changed"]
        print(f"{name:52} {c['n']:6} {c['old right']:10} {c['new right']:10} {c['changed']:8}")
    for key in sorted(examples):
        print(f"\n{key}:")
        for line in examples[key]:
            print(f"  {line}")
    print(f"\nverdict_changes: {total}")


if __name__ == "__main__":
    main()
