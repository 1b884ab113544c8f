"""Explain paradigm helpers: editorial parsing (incl. malformed output) and training weights."""

from __future__ import annotations

import pytest

from engine.errors import DistillabError
from engine.paradigms.explain.editorial import compose, parse_editorial
from engine.paradigms.explain.weights import weights
from engine.prompts import render

GOOD = """Here is the editorial.

## Problem Analysis
We need two indices; O(n) time, O(n) space.

## Conceptual Evolution
Brute force checks all pairs in O(n^2); a map of seen values removes the inner loop.

## Key Insights
The complement target - x identifies the partner.

## Step-by-Step Algorithm
1. Walk the array.
2. Return when the complement was seen.
"""


def test_a_complete_editorial_has_four_sections():
    ed = parse_editorial(GOOD)
    assert list(ed.sections) == ["analysis", "conceptual_evolution", "key_insights",
                                 "step_by_step"]
    assert ed.missing == [] and ed.flag is None
    assert ed.sections["key_insights"].startswith("The complement")


def test_headings_are_matched_loosely():
    text = ("### 1. Complexity analysis\nO(n).\n**\n## Evolution of the idea\nx\n"
            "## Insights\ny\n## Algorithm (step by step)\nz")
    assert parse_editorial(text).missing == []


@pytest.mark.parametrize("text,missing", [
    ("no headings at all, just prose", ["analysis", "conceptual_evolution", "key_insights",
                                        "step_by_step"]),
    (GOOD.replace("## Key Insights\nThe complement target - x identifies the partner.\n", ""),
     ["key_insights"]),
    ("## Problem Analysis\n\n## Conceptual Evolution\nx\n## Key Insights\ny\n"
     "## Step-by-Step Algorithm\nz", ["analysis"]),  # an empty section counts as missing
    ("", ["analysis", "conceptual_evolution", "key_insights", "step_by_step"]),
])
def test_malformed_editorials_are_flagged_with_the_reason(text, missing):
    ed = parse_editorial(text)
    assert ed.missing == missing
    assert ed.flag is not None and ed.flag.startswith("missing section")


def test_compose_keeps_only_the_chosen_sections_in_order():
    ed = parse_editorial(GOOD)
    text = compose(ed.sections, ["step_by_step", "conceptual_evolution"])
    assert text.startswith("## Step-by-Step Algorithm\n1. Walk")
    assert "## Conceptual Evolution" in text and "Key Insights" not in text


def test_weights_favour_simple_and_recent_and_average_one():
    records = [{"difficulty": "Easy", "date": "2019-01-01"},
               {"difficulty": "hard", "date": "2025-06-01"},
               {"difficulty": "medium", "date": "2022-03-04"},
               {}]
    uni = weights(records, "uniform")
    assert [w for w, _ in uni] == [1.0, 1.0, 1.0, 1.0]
    diff = [w for w, _ in weights(records, "difficulty")]
    assert diff[0] > diff[2] > diff[1] and diff[3] == pytest.approx(diff[0])
    rec = [w for w, _ in weights(records, "recency")]
    assert rec[1] > rec[2] > rec[0]
    both = weights(records, "difficulty_recency")
    assert sum(w for w, _ in both) / 4 == pytest.approx(1.0)
    assert "difficulty hard x0.5" in both[1][1] and "date 2025-06-01" in both[1][1]
    by_id = [w for w, _ in weights([{"qid": 5}, {"qid": 900}, {"qid": 40}], "recency",
                                   date_field="qid")]
    assert by_id[1] > by_id[2] > by_id[0]


def test_shipped_templates_render_and_undefined_variables_fail():
    text = render("prompts/explain/coder.j2", None, problem="P", plan="do X",
                  entry_point="f", tests_hint="")
    assert "Follow this plan" in text and "`f`" in text and text.endswith("P")
    no_plan = render("prompts/explain/coder.j2", None, problem="P", plan="", entry_point="",
                     tests_hint="")
    assert "Follow this plan" not in no_plan
    with pytest.raises(DistillabError, match="undefined"):
        render("prompts/explain/explainer.j2", None, problem="P")
    with pytest.raises(DistillabError, match="not found"):
        render("prompts/nope.j2", None)
