"""Splitting traces into steps, tagged formats, and step-by-step alignment."""

from __future__ import annotations

import time

import pytest

from engine.steps import Piece, align, first_wrong, inline_diff, parse_tags, section_kind, split_steps

SUPERCORRECT = """<Step1>Let x be the number of apples. <Key>Both boxes hold the same count.</Key></Step1>
<Step2>Then 2x = 10, so x = 5.</Step2>
<Generalized>Set up one equation per constraint.</Generalized>
<Answer>5</Answer>"""


def test_xml_steps_with_keys_generalized_and_answer():
    pieces = split_steps(SUPERCORRECT)
    assert [p.kind for p in pieces] == ["step", "key", "step", "generalized", "answer"]
    assert pieces[1].text == "Both boxes hold the same count."
    assert pieces[-1].text == "5"
    assert parse_tags(SUPERCORRECT, "Answer", "Cause") == {"Answer": "5"}


def test_numbered_steps_keep_a_preamble():
    text = "Let's think.\nStep 1: add 2 and 3.\nStep 2. That gives 5.\nThe answer is 5."
    pieces = split_steps(text)
    assert [p.kind for p in pieces] == ["preamble", "step", "step"]
    assert pieces[2].text == "Step 2. That gives 5.\nThe answer is 5."


def test_markdown_sections_become_kinds():
    text = ("## Problem Analysis\nO(n) time.\n\n## Conceptual Evolution\nStart brute force.\n"
            "## Key Insights\nUse a hash map.\n## Step-by-Step Algorithm\n1. Scan.\n2. Check.")
    kinds = [p.kind for p in split_steps(text)]
    assert kinds == ["problem_analysis", "conceptual_evolution", "key_insights",
                     "step_by_step_algorithm"]
    assert section_kind("**Key Insights:**") == "key_insights"


def test_paragraphs_and_lines():
    assert [p.text for p in split_steps("Hmm.\n\nWait, let me check.\nYes.")] == [
        "Hmm.", "Wait, let me check.\nYes."]
    assert [p.text for p in split_steps("a = 1\n\n", "lines")] == ["a = 1"]
    with pytest.raises(ValueError, match="unknown step style"):
        split_steps("x", "words")


CODER_REPLY = ("Here you go:\n```python\ndef add_3(x):\n    # Step 1: add\n    y = x + 3\n\n"
               "    return y\n```\nIt adds three.")


def test_a_fenced_code_block_is_one_step_in_every_style():
    for style in ("auto", "paragraphs", "lines"):
        pieces = split_steps(CODER_REPLY, style)
        assert [p.kind for p in pieces] == ["step", "code", "step"], style
        assert pieces[1].text.startswith("```python\ndef add_3(x):")
        assert pieces[1].text.endswith("return y\n```")
    # a "Step 1:" inside the code is not a step mark: the reply is not a numbered chain
    assert all(p.kind != "preamble" for p in split_steps(CODER_REPLY))


def test_headings_and_step_marks_inside_code_are_not_split():
    editorial = ("## Key Insights\nAdd the constant.\n\n## Step-by-Step Algorithm\n"
                 "```python\n# Compute\nfor i in xs:\n    # Step 2: keep\n    out.append(i)\n```\n")
    pieces = split_steps(editorial)
    assert [p.kind for p in pieces] == ["key_insights", "step_by_step_algorithm"]
    assert "# Compute" in pieces[1].text and pieces[1].text.endswith("```")
    chain = "Step 1: set up.\n```\nStep 7: not a step\n```\nStep 2: done."
    assert [p.text.split(":")[0] for p in split_steps(chain)] == ["Step 1", "Step 2"]
    # an unclosed fence runs to the end of the text, still one step
    assert split_steps("Code:\n\n```py\nx = 1\n\ny = 2") == [
        Piece("step", "Code:"), Piece("code", "```py\nx = 1\n\ny = 2")]


def test_alignment_puts_gaps_where_a_step_was_inserted():
    left = ["Let x be the apples.", "Then 2x = 10.", "So x = 5.", "The answer is 5."]
    right = ["Let x be the apples.", "Each box has x apples.", "Then 2x = 10.",
             "So x = 5.", "The answer is 5."]
    rows = align(left, right)
    assert [(r.left, r.right) for r in rows] == [(0, 0), (None, 1), (1, 2), (2, 3), (3, 4)]
    assert rows[0].similarity == 1.0


def test_alignment_does_not_force_unrelated_steps_together():
    rows = align(["Compute the area of the circle."], ["Sort the list in place."])
    assert [(r.left, r.right) for r in rows] == [(0, None), (None, 0)]
    assert align([], []) == []
    assert [(r.left, r.right) for r in align(["a"], [])] == [(0, None)]


def test_alignment_of_two_50_step_traces_is_fast():
    left = [f"Step {i}: we add {i} apples to basket {i % 7} and count {i * 3} in all."
            for i in range(50)]
    right = [s.replace("apples", "pears") if i % 5 == 0 else s for i, s in enumerate(left)]
    right.insert(20, "Wait, let me double-check the previous count.")
    t0 = time.perf_counter()
    rows = align(left, right)
    elapsed = time.perf_counter() - t0
    assert (20, 21) in [(r.left, r.right) for r in rows]
    assert (None, 20) in [(r.left, r.right) for r in rows]
    assert elapsed < 0.5  # a generous bound; bench/gui_latency.py measures it properly


def test_inline_diff_marks_changed_words():
    diff = inline_diff("so x = 5 apples", "so x = 6 apples")
    assert ("delete", "5 ") in diff and ("insert", "6 ") in diff
    assert "".join(t for op, t in diff if op != "insert") == "so x = 5 apples"
    assert "".join(t for op, t in diff if op != "delete") == "so x = 6 apples"


def test_first_wrong():
    assert first_wrong(["correct", "unknown", "wrong", "wrong"]) == 2
    assert first_wrong(["correct"]) is None
