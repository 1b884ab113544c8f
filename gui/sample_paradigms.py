"""Small ELAD and REER runs for the Rounds and Search pages' previews, screenshots and tests.

Each is written through the store the way its stage writes it: ``add_elad_run`` two rounds
of the rounds stage (engine/paradigms/elad/stages.py: selection, explore, score and revised
traces, the teacher's step verdicts, the round metrics), ``add_reer_search`` one item's
search (engine/paradigms/reer/search.py: z0, candidates, z*). No model runs; nothing here
imports Qt.
"""

from __future__ import annotations

from pathlib import Path

from engine.store import StepIn, Store, items, runs, traces

CHAIN = ["Step 1: 3 + 4 = 7.", "Step 2: 7 * 2 = 15.", "Step 3: 15 - 1 = 14."]
FIXED = ["Step 1: 3 + 4 = 7.", "Step 2: 7 * 2 = 14.", "Step 3: 14 - 1 = 13."]

SEGS = ["Alright, the user wants to know why the total is 9. " * 2,
        "Hmm, I will mention the first change somewhere without going into it. " * 2,
        "---\nOutline: start, change, total. " * 3]
NEW = "Wait, the first change means 4 + 5 = 9, so the total is 9 apples. I will say so."
Y = "There are 4 apples at the start.\n\nThen 5 more come in: 4 + 5 = 9, so the total is 9 apples."


def add_elad_run(db: Path, n: int = 4, name: str = "elad-gui") -> int:
    """An ELAD run of two rounds over ``n`` pool items; each round selects the last two:
    one revised from its first No at step 2, one accepted as it was."""
    with Store(db) as store:
        ds = items.save_dataset(store, name="lab", source="sample", content_hash=f"elad-{n}",
                                fields={}, splits={},
                                rows=[("train", f"i{i}", {"question": f"q{i}", "answer": "13"})
                                      for i in range(n)])
        ids = [it.id for it in items.get_items(store, ds)]
        run = runs.create_run(store, name=name, paradigm="elad", recipe_yaml="x: 1",
                              seed=0, stage_names=["baseline", "rounds"])
        for r in (1, 2):
            scores = {str(i): 0.2 * k + 0.1 * r for k, i in enumerate(ids)}
            traces.add_trace(store, run_id=run.id, stage="rounds", role="selection",
                             output="sel", parsed={"round": r, "method": "elad",
                                                   "selected": ids[-2:], "scores": scores})
            for item_id, first_no in ((ids[-1], 2), (ids[-2], None)):
                _revision(store, run.id, r, item_id, first_no)
            for metric, value in (("accuracy", 0.3 * r), ("accuracy_ci_low", 0.3 * r - 0.2),
                                  ("accuracy_ci_high", 0.3 * r + 0.2),
                                  ("teacher_tokens_yes", 500.0 * r), ("teacher_calls_yes", 4.0),
                                  ("teacher_tokens_rewrite", 300.0),
                                  ("teacher_calls_rewrite", 1.0),
                                  ("teacher_tokens_total", 800.0 + 500 * (r - 1))):
                runs.add_metric(store, run.id, metric, value, step=r, stage="rounds")
        runs.add_metric(store, run.id, "accuracy_base", 0.05, stage="baseline")
    return run.id


def _revision(store: Store, run_id: int, r: int, item_id: int, first_no: int | None) -> None:
    """The student's chain with the teacher's verdicts (up to the first No), its score
    pass (dropping step 2 changes the answer) and the revised chain."""
    add = traces.add_trace
    text = "\n".join([*CHAIN, "The answer is 14."])
    student = add(store, run_id=run_id, stage="rounds", role="explore", item_id=item_id,
                  output=text, parsed={"round": r}, steps=[StepIn(c) for c in CHAIN])
    for k, step in enumerate(traces.get_trace(store, student).steps, start=1):
        if first_no is None or k <= first_no:
            traces.set_step_verdict(store, step.id, "wrong" if k == first_no else "correct",
                                    "teacher")
    add(store, run_id=run_id, stage="rounds", role="score", item_id=item_id, output=text,
        parent_id=student, parsed={"round": r},
        steps=[StepIn(c, metrics={"agreed": k != 2}) for k, c in enumerate(CHAIN, start=1)])
    out = FIXED if first_no else CHAIN
    add(store, run_id=run_id, stage="rounds", role="revised", item_id=item_id,
        output="\n".join([*out, "The answer is 13."]), parent_id=student,
        parsed={"round": r, "kind": "revised" if first_no else "accepted",
                "first_no": first_no, "kept_steps": (first_no or 4) - 1},
        steps=[StepIn(c) for c in out])


def add_reer_search(db: Path, name: str = "reer-gui") -> tuple[int, int]:
    """A REER run with one item searched: z0, a rejected then an accepted edit of segment 2.
    Returns (run id, item id)."""
    with Store(db) as store:
        ds = items.save_dataset(store, name="why", source="sample", content_hash="reer-why",
                                fields={}, splits={},
                                rows=[("train", "i1", {"query": "q", "reference": Y})])
        item_id = items.get_items(store, ds)[0].id
        run = runs.create_run(store, name=name, paradigm="reer", recipe_yaml="x: 1",
                              seed=0, stage_names=["draft", "search"])
        add = traces.add_trace
        add(store, run_id=run.id, stage="draft", role="draft", item_id=item_id,
            output="<think>...</think>", parsed={"segments": SEGS})
        z0 = add(store, run_id=run.id, stage="search", role="z0", item_id=item_id,
                 output="\n\n".join(SEGS), score=1.50)
        for step, news, scores, take in ((0, [SEGS[0], SEGS[0]], [1.6, 1.7], None),
                                         (1, [NEW, SEGS[1]], [0.9, 1.55], 0)):
            for j, (new, s) in enumerate(zip(news, scores, strict=True)):
                add(store, run_id=run.id, stage="search", role="candidate", item_id=item_id,
                    parent_id=z0, output="z", score=s, sample_index=j,
                    parsed={"segment": step, "new_segment": new, "accepted": take == j})
        segs = [SEGS[0], NEW, SEGS[2]]
        add(store, run_id=run.id, stage="search", role="z-star", item_id=item_id,
            output="\n\n".join(segs), score=0.6, steps=[StepIn(s) for s in segs])
    return run.id, item_id
