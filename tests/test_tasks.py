"""Answer extraction and verification for each task kind (small hand-written cases)."""

from __future__ import annotations

import pytest

from engine.errors import DistillabError
from engine.sandbox import Sandbox
from engine.store import Store, items, runs
from engine.tasks import TASKS, extract_program, get_task
from engine.tasks.extract import last_boxed
from engine.tasks.latex import clean
from engine.tasks.mathanswer import math_equal
from engine.tasks.numbers import numbers
from engine.tasks.openended import (
    batched,
    ngram_overlap,
    pairwise,
    pairwise_many,
    parse_score,
    rouge_l,
    rubric_score,
    win_rate,
)
from engine.tasks.results import record, summarize


@pytest.fixture(scope="module")
def sb():
    with Sandbox(workers=2, cpu_time_s=2, wall_time_s=4) as sandbox:
        yield sandbox


def test_table_and_unknown_kind():
    assert {"gsm8k", "math_number", "math_boxed", "choice", "yesno", "code_asserts",
            "code_check", "code_stdio", "open"} <= set(TASKS)
    with pytest.raises(DistillabError, match="unknown task kind 'maths'") as err:
        get_task("maths")
    assert "math_boxed" in err.value.hint


@pytest.mark.parametrize(("text", "answer"), [
    ("Natalia sold 48/2 = <<48/2=24>>24 clips.\n#### 72", "72"),
    ("so the total is 1,234 dollars.\n#### 1,234", "1234"),
    ("Step 1 ... 5 apples.\nThe answer is 18.", "18"),
    ("The answer is: $-3.5", "-3.5"),
    ("We get 3 then 7 and finally 12", "12"),
    ("no numbers here", None),
])
def test_gsm8k_extraction(text, answer):
    assert get_task("gsm8k").extract(text) == answer


def test_gsm8k_verify_compares_numbers():
    task = get_task("math_number")
    assert task.verify("... The answer is 72.", {"answer": "blah\n#### 72"}).passed
    assert task.verify("72.0", {"answer": 72}).passed
    assert task.verify("1,000", {"answer": "1000"}).passed
    v = task.verify("The answer is 71", {"answer": "72"})
    assert not v.passed and (v.predicted, v.gold) == ("71", "72")
    assert numbers("between 3/4 and -2.5, or 10,000") == ["3/4", "-2.5", "10000"]


def test_boxed_extraction_nested_and_last():
    assert last_boxed(r"first \boxed{1} then \boxed{\frac{a}{b^{2}}}.") == r"\frac{a}{b^{2}}"
    assert last_boxed(r"\boxed 5$") == "5"
    assert last_boxed(r"cut off \boxed{\frac{1}{2") is None
    assert last_boxed("nothing") is None


@pytest.mark.parametrize(("pred", "gold"), [
    (r"\dfrac{1}{2}", r"\frac{1}{2}"),
    ("0.5", r"\frac{1}{2}"),
    (r"\frac12", r"\frac{1}{2}"),
    (r"\left( 3, 4 \right)", "(3,4)"),
    (r"10^\circ", "10"),
    (r"\$5.00", "5"),
    (r"x = 7", "7"),
    (r"\text{(B)}", "(B)"),
    (r"5\text{ cm}", "5"),
    (r"\frac{\sqrt{3}}{2}", r"\frac{1}{2}\sqrt{3}"),
    ("2x+1", "1+2x"),
    ("1,000", "1000"),
])
def test_math_equivalent(pred, gold):
    assert math_equal(pred, gold), (clean(pred), clean(gold))


@pytest.mark.parametrize(("pred", "gold"), [
    (r"\frac{1}{3}", "0.33"), ("(3,4)", "(4,3)"), ("2x", "2y"), (r"\sqrt{2}", "1.42"),
])
def test_math_not_equivalent(pred, gold):
    assert not math_equal(pred, gold)


def test_math_boxed_verify():
    task = get_task("math_boxed")
    solution = r"So $x = \boxed{\dfrac{3}{4}}$."
    assert task.verify(r"The answer is $\boxed{0.75}$", {"answer": solution}).passed
    assert task.verify(r"\frac34", {"answer": r"\frac{3}{4}"}).passed  # already extracted
    assert not task.verify(r"\boxed{4}", {"answer": solution}).passed


def test_choice_letter_and_nearest_option():
    task = get_task("choice")
    options = ["A)21", "B)21.5", "C)22", "D)22.5", "E)23"]
    assert task.verify("... so the answer is (C).", {"answer": "C", "options": options}).passed
    assert task.verify("Answer: D", {"answer": "D", "options": options}).passed
    v = task.verify("The total comes to 22.5 metres", {"answer": "D", "options": options})
    assert v.passed and v.details["matched_by"] == "nearest option"
    assert task.extract("the answer is a tough one") is None
    assert not task.verify("the answer is B", {"answer": "C", "options": options}).passed
    roman = {"answer": "C", "options": ["A)I only", "B)II only", "C)I and II"]}
    assert task.verify("The answer is I and II", roman).passed  # "I" is no option letter here
    plain = ["red apples", "green pears"]
    assert task.verify("I think it is green pears", {"answer": "B", "options": plain}).passed


def test_yes_no():
    task = get_task("yesno")
    assert task.extract("Yes. Frost is common.") == "yes"
    assert task.extract("Thinking... so the answer is no.") == "no"
    assert task.verify("No, because ...", {"answer": "No. Hydrogen..."}).passed
    assert task.verify("yes", {"answer": {"Yes": 1, "No": 0}}).passed
    assert task.verify("false", {"answer": False}).passed
    assert not task.verify("maybe", {"answer": True}).passed


def test_extract_program_from_replies():
    assert extract_program("Here:\n```python\ndef f():\n    return 1\n```\nDone.") == \
        "def f():\n    return 1"
    two = ("```py\ndef helper():\n    pass\n```\ntext\n```\ndef solve(x):\n    return x\n```\n"
           "```text\nnot code\n```")
    assert extract_program(two).startswith("def solve")
    assert extract_program(two, "helper").startswith("def helper")
    leet = ("```python\nclass Solution:\n    def twoSum(self, a, t):\n        return []\n```\n"
            "Test:\n```python\nprint(Solution().twoSum([1], 1))\n```")
    assert extract_program(leet, "Solution().twoSum").startswith("class Solution")
    prose = "Sure! Here is the code:\ndef f(x):\n    return x * 2\nThis doubles x."
    assert extract_program(prose) == "def f(x):\n    return x * 2"
    assert extract_program("n = int(input())\nprint(n)") == "n = int(input())\nprint(n)"
    cut = "```python\ndef f():\n    return 1\n```\n```python\ndef g(:"
    assert extract_program(cut) == "def f():\n    return 1"  # unclosed last block ignored


def test_code_tasks_run_in_the_sandbox(sb):
    asserts = get_task("code_asserts", sandbox=sb)
    reply = "```python\ndef add(a, b):\n    return a + b\n```"
    assert asserts.verify(reply, {"tests": ["assert add(1, 2) == 3"]}).passed
    v = asserts.verify(reply, {"tests": ["assert add(1, 2) == 3", "assert add(2, 2) == 5"]})
    assert not v.passed and v.details["failing_test"] == 1 and v.details["status"] == "failed"
    setup = {"tests": ["assert total == 6"], "test_setup": "total = add(add(1, 2), 3)"}
    assert asserts.verify(reply, setup).passed

    check = get_task("code_check", sandbox=sb)
    fields = {"prompt": "from typing import *\n", "entry_point": "Solution().twoSum",
              "test": "def check(candidate):\n    assert candidate(nums=[2, 7], target=9) == [0, 1]"}
    good = ("```python\nclass Solution:\n    def twoSum(self, nums: List[int], target: int):\n"
            "        return [0, 1]\n```")
    assert check.verify(good, fields).passed
    assert not check.verify(good.replace("[0, 1]", "[1, 0]"), fields).passed

    stdio = get_task("code_stdio", sandbox=sb)
    prog = "```python\nn = int(input())\nprint(n * 0.5)\n```"
    assert stdio.verify(prog, {"tests": [{"input": "3", "output": "1.5000001"}]}).passed
    assert stdio.verify(prog, {"tests": {"input": ["4\n"], "output": ["2"]}}).passed
    wrong = stdio.verify(prog, {"tests": [{"input": "3", "output": "1.5"},
                                          {"input": "5", "output": "2.6"}]})
    assert not wrong.passed and wrong.details["failing_test"] == 1

    many = asserts.verify_many([reply, "def add(a, b):\n    return a - b"],
                               [{"tests": ["assert add(1, 1) == 2"]}] * 2)
    assert [v.passed for v in many] == [True, False]


def test_run_programs_api():
    from engine.tasks import run_programs

    out = run_programs("code_asserts", [("def f():\n    return 3", {"tests": ["assert f() == 3"]}),
                                        ("def f():\n    return 4", {"tests": ["assert f() == 3"]})],
                       timeout_s=2, workers=1)
    assert [r.passed for r in out] == [True, False]
    assert out[1].details["status"] == "failed" and out[1].time_s > 0
    with pytest.raises(DistillabError):
        run_programs("gsm8k", [])


def test_rouge_l_and_ngram_overlap():
    assert rouge_l("the cat sat on the mat", "the cat sat on the mat") == pytest.approx(1.0)
    # LCS "the cat the mat" = 4 of 6 tokens each side
    assert rouge_l("the cat was on the mat", "the cat sat in the mat") == pytest.approx(4 / 6)
    assert rouge_l("", "x") == 0.0
    assert ngram_overlap("a b c d e", "x a b c d", 2) == pytest.approx(3 / 4)
    assert ngram_overlap("a b", "a b", 4) == 0.0
    v = get_task("open").verify("<think>plan it</think>The cat sat.", {"reference": "The cat sat."})
    assert v.passed and v.predicted == "The cat sat." and v.score == pytest.approx(1.0)


def test_judge_rubric_and_pairwise_with_position_swap():
    calls = []

    def fair(messages):
        calls.append(messages)
        text = messages[-1]["content"]
        if "Which answer is better" in text:
            first = text.split("[Answer A]\n")[1].split("\n\n[Answer B]")[0]
            return "A is more detailed. [[A]]" if "good" in first else "[[B]]"
        return "Clear and correct.\nScore: 8"

    assert rubric_score(fair, "q", "an answer", "ref") == 8.0
    assert "ref" in calls[-1][-1]["content"]
    assert parse_score("score: 11") is None and parse_score("Score: 7/10") == 7.0
    won = pairwise(fair, "q", "good answer", "bad answer")
    assert won.score == 1.0 and won.consistent
    assert pairwise(fair, "q", "bad answer", "good answer").score == 0.0

    def biased(messages):  # always prefers whatever is shown first
        return "[[A]]"

    tie = pairwise(biased, "q", "x", "y")
    assert tie.score == 0.5 and not tie.consistent
    outcomes = pairwise_many(batched(fair), [("q", "good", "bad")] * 3 + [("q", "bad", "good")])
    assert win_rate(outcomes).mean == pytest.approx(0.75)


def test_record_and_summarize(db_path):
    task = get_task("gsm8k")
    with Store(db_path) as store:
        run_id = runs.create_run(store, name="t", paradigm="smoke", recipe_yaml="", seed=1,
                                 stage_names=["eval"]).id
        ds = items.save_dataset(store, name="d", source="t", content_hash="h", fields={},
                                splits={}, rows=[("test", f"h{i}", {"answer": "7"}) for i in range(4)])
        ids = [it.id for it in items.get_items(store, ds)]
        for item in range(4):
            for sample in range(5):
                answer = "7" if sample < item else "8"
                record(store, run_id=run_id, stage="eval", item_id=ids[item], sample_index=sample,
                       verdict=task.verify(f"The answer is {answer}", {"answer": "7"}))
        summary = summarize(store, run_id, "eval", ks=(1, 5, 10))
    assert summary["items"] == 4 and summary["samples_per_item"] == 5
    assert summary["accuracy"].mean == pytest.approx(3 / 4)  # sample 0 passes for items 1-3
    assert set(summary["solve_at_k"]) == {1, 5}
    assert summary["solve_at_k"][1].mean == pytest.approx((0 + 1 + 2 + 3) / 20)
    assert summary["solve_at_k"][5].mean == pytest.approx(3 / 4)


_HEADER = ('from typing import List\n\n\ndef unique(l: list):\n    """Sorted unique elements.\n'
           '    >>> unique([5, 3, 5])\n    [3, 5]\n    """\n')
_HUMANEVAL = {"prompt": _HEADER, "entry_point": "unique",
              "test": "def check(candidate):\n    assert candidate([5, 3, 5, 2]) == [2, 3, 5]\n"}


@pytest.mark.parametrize(("reply", "passes"), [
    ("    return sorted(set(l))\n", True),  # the case: a HumanEval completion
    ("```python\n    return sorted(set(l))\n```", True),
    ("return sorted(set(l))", True),  # flush left
    ("s = set(l)\n    return sorted(s)", True),  # the first line's indentation lost
    ("Here is the body:\n```python\n    s = set(l)\n    return sorted(s)\n```\nDone.", True),
    ("Sure:\n    s = set(l)\n    return sorted(s)\nThat is all.", True),
    ("```python\ndef unique(l):\n    return sorted(set(l))\n```", True),  # a whole function still
    ("    return sorted(l)\n", False),  # a wrong body stays wrong
    ("return l", False),
])
def test_body_only_replies_accepted_after_a_header(sb, reply, passes):
    check = get_task("code_check", sandbox=sb)
    verdict = check.verify(reply, _HUMANEVAL)
    assert verdict.passed is passes, verdict.details
    if passes:
        assert "return" in verdict.predicted


def test_body_only_needs_a_header():
    """Without a function header to complete (LeetCode's prompt is imports), a bare body is
    not glued onto anything."""
    body = "    return sorted(set(l))\n"
    assert extract_program(body, "unique", "from typing import *\n") == "return sorted(set(l))"
    assert extract_program(body, "unique", _HEADER) == body.rstrip("\n")
    assert extract_program(body, "unique") == "return sorted(set(l))"
