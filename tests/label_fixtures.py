"""A small hand-made project for the label tests: one arithmetic item, a teacher trace whose
steps the teacher judged correct, and student traces with a wrong answer."""

from __future__ import annotations

from pathlib import Path

from engine.store import StepIn, Store, runs, traces
from engine.store.items import save_dataset

PROBLEM = "Tom has 3 bags of 4 apples and eats 2. How many are left?"
TEACHER = ["3 bags of 4 apples is 3 * 4 = 12 apples.", "He eats 2, so 12 - 2 = 10 are left.",
           "The answer is 10."]
STUDENT = ["3 bags of 4 apples is 3 + 4 = 7 apples.", "He eats 2, so 7 - 2 = 5 are left.",
           "The answer is 5."]
GOOD = ["3 bags of 4 apples is 3 * 4 = 12 apples.", "12 - 2 = 10.", "The answer is 10."]


def make_project(db: Path) -> dict[str, int]:
    """Run 1: a teacher trace (steps judged correct by the teacher), a wrong student trace
    (teacher verdicts: step 1 correct, steps 2-3 wrong), a second wrong student trace, and
    a correct student trace; returns their ids."""
    with Store(db) as store:
        ds = save_dataset(store, name="apples", source="t", content_hash="apples-1", fields={},
                          splits={}, rows=[("test", "i0", {"question": PROBLEM, "answer": "10"}),
                                           ("test", "i1", {"question": "2 + 2?", "answer": "4"})])
        item, item2 = (int(r[0]) for r in store.query(
            "SELECT id FROM items WHERE dataset_id = ? ORDER BY idx", (ds,)))
        run = runs.create_run(store, name="labels", paradigm="cot", recipe_yaml="x", seed=0,
                              stage_names=["solve", "evaluate"])
        runs.set_run(store, run.id, dataset_id=ds, status="completed")

        def add(role: str, stage: str, texts: list[str], verdicts: list[str], verdict: str,
                item_id: int = item) -> int:
            return traces.add_trace(
                store, run_id=run.id, stage=stage, role=role, item_id=item_id,
                output="\n".join(texts), verdict=verdict,
                steps=[StepIn(t, verdict=v, verdict_by="teacher:judge")
                       for t, v in zip(texts, verdicts, strict=True)])

        ids = {"run": run.id, "item": item}
        ids["teacher"] = add("teacher", "solve", TEACHER, ["correct"] * 3, "correct")
        ids["student"] = add("student", "evaluate", STUDENT, ["correct", "wrong", "wrong"],
                             "wrong")
        ids["student2"] = add("student", "evaluate", ["2 + 2 = 5.", "The answer is 5."],
                              ["unknown", "unknown"], "wrong", item_id=item2)
        ids["good"] = add("student", "evaluate", GOOD, ["unknown"] * 3, "correct")
    return ids


def step_ids(store: Store, trace_id: int) -> list[int]:
    return [int(r[0]) for r in store.query(
        "SELECT id FROM steps WHERE trace_id = ? ORDER BY idx", (trace_id,))]
