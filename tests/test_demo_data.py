"""The bundled demo data sets are what the README says: sizes, fields, and correct answers."""

from __future__ import annotations

import json

from engine.paths import ASSETS_DIR
from engine.tasks import get_task, run_programs


def _rows(name: str) -> list[dict]:
    return [json.loads(line) for line in (ASSETS_DIR / "demo" / name).read_text().splitlines()]


def test_code_problems_reference_solutions_pass_their_tests_in_the_sandbox():
    rows = _rows("code.jsonl")
    assert len(rows) == 30 and len({r["id"] for r in rows}) == 30
    assert {r["difficulty"] for r in rows} == {"easy", "medium", "hard"}
    results = run_programs("code_asserts", [(r["solution"], r) for r in rows], timeout_s=10)
    failed = [(r["id"], res.error) for r, res in zip(rows, results, strict=True) if not res.passed]
    assert failed == []
    wrong = run_programs("code_asserts", [(f"def {r['entry_point']}(*a, **k):\n    return None\n", r)
                                          for r in rows], timeout_s=10)
    assert not any(res.passed for res in wrong)  # the tests can fail


def test_word_problems_answers_are_extracted_from_their_solutions():
    rows = _rows("math.jsonl")
    task = get_task("gsm8k")
    assert len(rows) == 30
    for row in rows:
        assert task.extract(row["solution"]) == row["answer"], row["id"]
        assert task.verify(row["solution"], row).passed


def test_open_prompts_have_references():
    rows = _rows("open.jsonl")
    assert len(rows) == 10 and all(len(r["reference"].split()) >= 80 for r in rows)
