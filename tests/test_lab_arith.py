"""The lab's arith family: determinism, distinct questions, disjoint splits, gold chains that
check, the step checker on every mutation, and the gsm8k task kind reading the answers."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from engine.data import load_dataset
from engine.lab import arith, mistakes
from engine.lab.chain import check_chain, parse_chain
from engine.recipes import DatasetSpec
from engine.store import Store, items
from engine.tasks import get_task

DIALS = [arith.Dials(digits=d, ops=o, mix=m, distractors=x)
         for d, o, m, x in itertools.product((1, 3), (2, 5), ("+-x", "+-", "x+"), (0, 2))]


def test_same_seed_same_problems_and_another_seed_others():
    dials = arith.Dials(digits=3, ops=3, distractors=1)
    first = [it.record() for it in arith.generate(200, dials, seed=7)]
    assert first == [it.record() for it in arith.generate(200, dials, seed=7)]
    other = {it.question for it in arith.generate(200, dials, seed=8)}
    assert len(other & {r["question"] for r in first}) < 5


@pytest.mark.parametrize("dials", DIALS, ids=str)
def test_every_gold_chain_checks_and_the_question_reads_back(dials):
    problems = arith.generate(150, dials, seed=1)
    assert len({p.question for p in problems}) == 150  # distinct
    for p in problems:
        assert len(p.steps) == dials.ops and {s.op for s in p.steps} <= set(dials.operators)
        for s in p.steps:
            assert (2 <= s.b <= 9) if s.op == "*" else len(str(s.b)) == dials.digits
        assert len(p.distractors) == dials.distractors
        check = check_chain(p, p.solution)
        assert check.correct and check.verdicts == [True] * dials.ops, (p.solution, check)
        back = arith.parse_question(p.question)
        assert back is not None and back.steps == list(p.steps)
        assert back.distractors == p.distractors
        assert arith.item_from(json.loads(json.dumps(p.record()))) == p


def test_gsm8k_task_kind_reads_the_answers():
    task = get_task("gsm8k")
    for p in arith.generate(50, arith.Dials(ops=4), seed=2):
        record = p.record()
        assert task.extract(record["solution"]) == record["answer"] == str(p.answer)
        assert task.verify(record["solution"], record).passed
        wrong, _ = mistakes.with_mistake(p, "mixed", random.Random(0))
        assert not task.verify(arith.chain_text(wrong), record).passed


def test_bad_dials_say_which_dial(monkeypatch):
    for kwargs, word in [({"ops": 6}, "ops"), ({"digits": 0}, "digits"), ({"mix": "+/"}, "mix"),
                         ({"distractors": 9}, "distractors")]:
        with pytest.raises(ValueError, match=word):
            arith.Dials(**kwargs)
    # a small question space (9**3 numbers x 3 names x 2 things): asking for more fails clearly
    monkeypatch.setattr(arith, "NAMES", arith.NAMES[:3])
    monkeypatch.setattr(arith, "THINGS", arith.THINGS[:2])
    monkeypatch.setattr(arith, "START", arith.START[:1])
    monkeypatch.setattr(arith, "CHANGE", {"+": arith.CHANGE["+"][:1]})
    monkeypatch.setattr(arith, "QUESTION", arith.QUESTION[:1])
    with pytest.raises(ValueError, match="distinct questions found"):
        arith.generate(4400, arith.Dials(digits=1, ops=2, mix="+"), 0)


def test_splits_after_a_recipe_load_never_share_a_question(tmp_path):
    path = tmp_path / "arith.jsonl"
    records = [p.record() for p in arith.generate(300, arith.Dials(digits=2, ops=2), seed=0)]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    spec = DatasetSpec(path=str(path), split={"train": 0.8, "validation": 0.1, "test": 0.1})
    with Store(tmp_path / "p.db") as store:
        dataset = load_dataset(store, spec, seed=5)
        by_split = {s: {i.data["question"] for i in items.get_items(store, dataset, s)}
                    for s in ("train", "validation", "test")}
    assert [len(v) for v in by_split.values()] == [240, 30, 30]
    assert not by_split["train"] & by_split["validation"]
    assert not by_split["train"] & by_split["test"]
    assert not by_split["validation"] & by_split["test"]


def test_the_checker_finds_exactly_the_first_wrong_step_of_every_mutation():
    """One mutation per step position, per style, per operator at that position."""
    seen: set[tuple[int, str, str]] = set()
    for p in arith.generate(400, arith.Dials(digits=3, ops=4, distractors=2), seed=3):
        for k, style in itertools.product(range(1, 5), ("carry", "operation", "copy")):
            steps = mistakes.mistaken_steps(p, k, style, random.Random(k))
            if steps is None:
                continue
            check = check_chain(p, arith.chain_text(steps))
            assert check.first_wrong == k, (p.question, arith.chain_text(steps), check)
            assert check.verdicts[:k - 1] == [True] * (k - 1) and not check.verdicts[k - 1]
            seen.add((k, p.steps[k - 1].op, style))
    everything = set(itertools.product(range(1, 5), "+-*", ("carry", "operation", "copy")))
    assert seen == everything


def test_the_checker_on_hand_written_chains():
    p = arith.ArithItem("q", (arith.Step(347, "-", 129, 218), arith.Step(218, "*", 3, 654)),
                        distractors=(52,))
    right = "Step 1: 347 - 129 = 218.\nStep 2: 218 * 3 = 654.\nThe answer is 654."
    assert check_chain(p, right).correct
    assert check_chain(p, right.replace("218 * 3", "3 x 218")).correct  # order, 'x'
    assert check_chain(p, "**Step 1:** 347 - 129 = 218\nStep 2: 218 × 3 = 654\nStep 3: The "
                          "answer is 654.").correct
    cases = {
        right.replace("347 - 129", "129 - 347").replace("= 218.\nStep 2: 218", "= -218.\nStep 2: -218"):
            (1, "computes 129 - 347; it needs 347 - 129"),
        right.replace("347 - 129", "347 - 52"): (1, "a number the question gives for something "),
        right.replace("218 * 3 = 654", "347 * 3 = 1041").replace("654", "1041"):
            (2, "belongs to another step"),
        "Step 1: 347 - 129 = 218.\nThe answer is 218.": (2, "stops after step 1"),
        right + "\nStep 3: 654 + 1 = 655.": (3, "after the last step"),
        right.replace("The answer is 654.", ""): (3, "no final line"),
        right.replace("The answer is 654.", "The answer is 655."): (3, "says 655"),
        "Step 1: we subtract the sold ones.\nStep 2: 218 * 3 = 654.": (1, "no calculation"),
        right.replace("= 654", "= 644"): (2, "is 654, not 644"),
    }
    for text, (k, words) in cases.items():
        check = check_chain(p, text)
        assert check.first_wrong == k and words in check.reason, (text, check)


def test_parse_chain_reads_continued_lines_and_stops_at_the_answer():
    chain = parse_chain("Step 1: First, 3 + 4\n= 7 apples.\nStep 2: 7 * 2 = 14.\nThe answer is "
                        "14.\nIs Step 2 correct?")
    assert [s.number for s in chain.steps] == [1, 2] and chain.answer == 14
    assert chain.steps[0].calc is not None and chain.steps[0].calc.result == 7
