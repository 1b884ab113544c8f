"""Traces as a newcomer reads them: the item's problem and gold answer above the comparison
(collapsible), markdown rendered and code coloured, partners that mean something by default
(never a bookkeeping trace), word diffs only between traces of the same kind."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from engine import browse
from engine.steps import split_steps
from engine.store import StepIn, Store, runs, traces
from engine.store.items import save_dataset

pytestmark = [pytest.mark.gui]

PROBLEM = "Write `add_3(x)` that returns **x + 3**.\n\n```python\nassert add_3(1) == 4\n```"
PLAN = "## Key Insights\nAdd the constant.\n\n## Step-by-Step Algorithm\n1. Take x.\n2. Add 3."
PROGRAM = "Here you go:\n```python\ndef add_3(x):\n    return x + 3\n```\n"
OTHER_PROGRAM = "Here you go:\n```python\ndef add_3(x):\n    return x - 1000\n```\n"


def _project(db: Path) -> dict[str, int]:
    """Two runs on one code item: an explainer editorial, a Reasoner plan, coder programs,
    an empty plan (bookkeeping) and an old-style weight trace."""
    with Store(db) as store:
        ds = save_dataset(store, name="code", source="t", content_hash="h1", fields={},
                          splits={}, rows=[("test", "i0", {"problem": PROBLEM,
                                                           "solution": "def add_3(x):\n"
                                                                       "    return x + 3"})])
        item = int(store.one("SELECT id FROM items WHERE dataset_id = ?", (ds,))[0])
        ids: dict[str, int] = {"item": item}
        for name in ("a", "b"):
            run = runs.create_run(store, name=name, paradigm="explain", recipe_yaml="x", seed=0,
                                  stage_names=["explain", "weight", "plan", "code"])
            runs.set_run(store, run.id, dataset_id=ds, status="completed")

            def add(stage: str, role: str, output: str, *, run_id: int = run.id,
                    split: bool = True) -> int:
                steps = [StepIn(p.text, kind=p.kind) for p in split_steps(output)] if split else []
                return traces.add_trace(store, run_id=run_id, stage=stage, role=role,
                                        item_id=item, output=output, steps=steps)

            ids[f"weight_{name}"] = add("weight", "weight", "difficulty easy x1, date x0.50")
            ids[f"empty_{name}"] = add("plan", "plan", "", split=False)
            ids[f"explainer_{name}"] = add("explain", "explainer", PLAN)
            ids[f"plan_{name}"] = add("plan", "reasoner", PLAN.replace("constant", "three"))
            ids[f"code_{name}"] = add("code", "coder", PROGRAM if name == "a" else OTHER_PROGRAM,
                                      split=False)
    return ids


def _rows(db: Path, item: int) -> list[browse.TraceRow]:
    with Store(db, readonly=True) as store:
        return browse.item_traces(store, item)


def test_default_partners_same_role_across_runs_then_the_other_side_never_bookkeeping(tmp_path):
    db = tmp_path / "p.db"
    ids = _project(db)
    rows = _rows(db, ids["item"])
    by_id = {r.id: r for r in rows}
    assert by_id[ids["weight_a"]].bookkeeping and by_id[ids["empty_a"]].bookkeeping
    assert by_id[ids["code_a"]].kind == "code" and by_id[ids["plan_a"]].kind == "text"
    # a program: the same role in the other run first (a plan is never its default partner)
    assert browse.default_partners(rows, ids["code_a"]) == [ids["code_a"], ids["code_b"]]
    # a student's plan: the same role in the other run, then the teacher's editorial
    assert browse.default_partners(rows, ids["plan_a"]) == [ids["plan_a"], ids["plan_b"],
                                                            ids["explainer_a"]]
    # selecting a bookkeeping trace still shows it, but never picks one as a partner
    chosen = browse.default_partners(rows, ids["weight_a"])
    assert chosen[0] == ids["weight_a"] and not any(by_id[i].bookkeeping for i in chosen[1:])
    # no anchor given: the first readable trace, not the weight trace
    assert not by_id[browse.default_partners(rows, None)[0]].bookkeeping


def test_word_diff_only_between_traces_of_the_same_kind_unless_forced(tmp_path):
    db = tmp_path / "d.db"
    ids = _project(db)
    with Store(db, readonly=True) as store:
        mixed = browse.compare_traces(store, [ids["plan_a"], ids["code_a"]])
        forced = browse.compare_traces(store, [ids["plan_a"], ids["code_a"]], diff_any_kind=True)
        same = browse.compare_traces(store, [ids["code_a"], ids["code_b"]])
    assert mixed.kinds == ["text", "code"]
    assert all(c.diff is None for row in mixed.rows for c in row if c is not None)
    assert any(c.diff is not None for row in forced.rows for c in row[1:] if c is not None)
    # two programs: the code block is one step (not one per line), and it is diffed
    code_rows = [row for row in same.rows if row[0] is not None and row[0].kind == "code"]
    assert len(code_rows) == 1 and code_rows[0][1] is not None
    assert any(op == "insert" and "1000" in text for op, text in code_rows[0][1].diff or [])


def test_the_traces_view_shows_the_problem_renders_markdown_and_colours_code(qtbot, tmp_path):
    from gui.traces_view import TracesView

    db = tmp_path / "v.db"
    ids = _project(db)
    view = TracesView(db)
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    view.show_item(ids["item"], ids["code_a"])
    # the full problem and gold answer, markdown rendered (bold, code block in monospace)
    problem_html = view.problem.toHtml()
    assert "add_3(1) == 4" in view.problem.toPlainText()
    assert "def add_3(x):\n    return x + 3" in view.problem.toPlainText()  # gold code as code
    assert "font-weight:700" in problem_html.replace(" ", "") or "font-weight:600" in \
        problem_html.replace(" ", "")
    assert "monospace" in problem_html
    assert "4 bookkeeping" in view.item_label.text()  # a weight and an empty plan per run
    # collapsible
    view.problem_toggle.click()
    assert not view.problem.isVisibleTo(view)
    view.problem_toggle.click()
    assert view.problem.isVisibleTo(view)
    # ticked by default: the two programs; the bookkeeping entries are labelled, not ticked
    ticked = [view.choices.item(i) for i in range(view.choices.count())
              if view.choices.item(i).checkState() == Qt.CheckState.Checked]
    assert [int(t.data(Qt.ItemDataRole.UserRole)) for t in ticked] == [ids["code_a"],
                                                                       ids["code_b"]]
    labels = [view.choices.item(i).text() for i in range(view.choices.count())]
    assert sum(label.endswith("bookkeeping") for label in labels) == 4
    # the code is one step in monospace with syntax colour, without the fence markers
    comp = view.steps.comparison
    assert comp is not None and [c.kind for c in (r[0] for r in comp.rows) if c] == ["step",
                                                                                    "code"]
    html = view.steps.toHtml()
    assert "monospace" in html and "#008000" in html.lower()  # Pygments' keyword green
    # a plan beside a program: no word diff until the toggle forces it
    view.compare([ids["plan_a"], ids["code_a"]])
    assert "line-through" not in view.steps.toHtml()
    view.diff_any.setChecked(True)
    assert view.steps.comparison is not None and any(
        c.diff for row in view.steps.comparison.rows for c in row[1:] if c is not None)
