"""A realistic sample project for previews, screenshots and GUI tests.

Runs the real smoke recipe (no models, seconds) and then writes, through the store, what
the model paradigms will write: a 'distilled student' run with teacher/student/reviser
traces of the same items, steps with verdicts and log-PPL, training loss and lr series,
solve@k metrics, teacher calls with tokens and cost, and per-item evaluations. Nothing
here imports Qt, so a bench or a test can build the project without a window.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from engine import runner
from engine.paths import RECIPES_DIR
from engine.store import StepIn, Store, now, runs, traces
from engine.validate import load_recipe

TEACHER = [
    "Maya bakes 4 trays with 12 cookies each, so she has 4 * 12 = 48 cookies.",
    "She gives 13 cookies to her neighbors, leaving 48 - 13 = 35 cookies.",
    "Each bag holds 5 cookies, so she fills 35 / 5 = 7 bags.",
    "The answer is 7.",
]
STUDENT = [
    "Maya bakes 4 trays with 12 cookies each, so she has 4 * 12 = 48 cookies.",
    "She gives away 13 cookies, leaving 48 - 13 = 36 cookies.",
    "Each bag holds 5 cookies, so she fills 36 / 5 = 7.2 bags.",
    "Rounding down, she fills 7 bags, but 1 cookie is left over.",
    "The answer is 7.2.",
]
REVISER = [
    "Maya bakes 4 trays with 12 cookies each, so she has 4 * 12 = 48 cookies.",
    "She gives away 13 cookies; 48 - 13 = 35 cookies remain (not 36).",
    "Each bag holds 5 cookies, so she fills 35 / 5 = 7 bags.",
    "The answer is 7.",
]


def _steps(texts: list[str], wrong: set[int], by: str, rng: random.Random,
           verdicts: bool = True) -> list[StepIn]:
    out = []
    for i, text in enumerate(texts):
        verdict = ("wrong" if i in wrong else "correct") if verdicts else "unknown"
        log_ppl = round((2.4 if i in wrong else 0.6) + rng.random() * 0.8, 3)
        out.append(StepIn(text, verdict=verdict, verdict_by=by if verdicts else None,
                          metrics={"log_ppl": log_ppl}))
    return out


def make_sample_project(db_path: Path, *, slow_echo: bool = False) -> dict[str, int]:
    """Write the sample project into ``db_path``; returns ids of interest."""
    loaded = load_recipe(RECIPES_DIR / "smoke.yaml")
    if slow_echo:
        text = loaded.text.replace("echo: {text_field: solution}",
                                   "echo: {text_field: solution, delay_s: 0.2}")
        from engine.validate import parse_recipe

        loaded = parse_recipe(text, loaded.source, loaded.base_dir)
    smoke_id, _ = runner.run_recipe(loaded, db_path)
    rng = random.Random(7)
    with Store(db_path) as store:
        run = runs.get_run(store, smoke_id)
        student = runs.create_run(
            store, name="explain-gsm8k-smollm2", paradigm="smoke",
            recipe_yaml=run.recipe_yaml, seed=1, recipe_path=run.recipe_path,
            stage_names=["teach", "train", "evaluate"])
        sid = student.id
        runs.set_run(store, sid, status="completed", started_at=now(), finished_at=now(),
                     dataset_id=run.dataset_id)
        for pos, (name, total, secs) in enumerate((("teach", 30, 41.5), ("train", 120, 388.0),
                                                   ("evaluate", 30, 63.2))):
            runs.set_stage(store, sid, name, status="completed", done=total, total=total,
                           seconds=secs, started_at=now(), finished_at=now(), position=pos)
        items = store.query("SELECT id FROM items WHERE dataset_id = ? ORDER BY idx",
                            (run.dataset_id,))
        item_ids = [int(r[0]) for r in items]
        with store.transaction():
            for step in range(1, 121):
                loss = 2.2 * math.exp(-step / 35) + 0.35 + rng.random() * 0.08
                lr = 2e-4 * min(1.0, step / 6) * 0.5 * (1 + math.cos(math.pi * step / 120))
                runs.add_metric(store, sid, "loss", loss, step=step, stage="train")
                runs.add_metric(store, sid, "lr", lr, step=step, stage="train")
            for k, v in ((1, 0.43), (2, 0.55), (5, 0.68), (10, 0.77)):
                runs.add_metric(store, sid, f"solve@{k}", v, stage="evaluate")
            runs.add_metric(store, smoke_id, "solve@1", 0.30, stage="summary")
            runs.add_metric(store, smoke_id, "solve@5", 0.47, stage="summary")
            for n in range(30):
                tin, tout = 180 + rng.randrange(60), 240 + rng.randrange(200)
                store.insert("teacher_calls", {
                    "cache_key": f"k{n}", "run_id": sid, "stage": "teach",
                    "endpoint": "https://api.openai.com/v1", "model": "gpt-4o-mini",
                    "request": {"n": n}, "response": {"ok": True}, "tokens_in": tin,
                    "tokens_out": tout, "latency_s": 1.2, "cost_usd": (tin * 0.15 + tout * 0.6) / 1e6,
                    "created_at": now()})
            for n, item_id in enumerate(item_ids):
                passed = rng.random() < 0.62 or n % 4 == 0
                traces.add_evaluation(store, run_id=sid, stage="evaluate", item_id=item_id,
                                      passed=passed, details={"sample": 0})
        first = item_ids[0]
        t_id = traces.add_trace(store, run_id=sid, stage="teach", role="teacher", item_id=first,
                                model="gpt-4o-mini", output="\n".join(TEACHER), tokens_out=96,
                                steps=_steps(TEACHER, set(), "gold", rng, verdicts=True))
        s_id = traces.add_trace(store, run_id=sid, stage="evaluate", role="student",
                                item_id=first, model="smollm2-135m+lora", verdict="wrong",
                                output="\n".join(STUDENT),
                                steps=_steps(STUDENT, {1, 2, 4}, "teacher", rng))
        r_id = traces.add_trace(store, run_id=sid, stage="evaluate", role="reviser",
                                item_id=first, model="gpt-4o-mini", parent_id=s_id,
                                verdict="correct", output="\n".join(REVISER),
                                steps=_steps(REVISER, set(), "teacher", rng))
        for item_id in item_ids[1:12]:
            traces.add_trace(store, run_id=sid, stage="evaluate", role="student",
                             item_id=item_id, model="smollm2-135m+lora",
                             verdict=rng.choice(["correct", "wrong"]),
                             output=f"Student chain for item {item_id}.\nStep two.\nAnswer.",
                             steps=_steps(["Student chain.", "Step two.", "Answer."],
                                          {1} if item_id % 2 else set(), "teacher", rng))
    return {"smoke_run": smoke_id, "student_run": sid, "teacher_trace": t_id,
            "student_trace": s_id, "reviser_trace": r_id, "item": first}
