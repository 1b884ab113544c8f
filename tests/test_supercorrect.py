"""supercorrect end to end on the lab: the scripted lab teacher over real HTTP, the tiny
student, real SQLite; kill -9 inside `correct` and inside `dpo`, then resume.

The tiny random student writes no template, so its solve stage is replaced by one that
stores scripted template solutions, wrong from step 1, 2 or 3 (tests/supercorrect_fixtures):
everything after it runs for real (teacher corrections and inspector rounds, the tiny
student's self-corrections, pairs, TRL DPO, evaluation). After the resume the run must hold
every correction once, the pairs with their source traces, and a DPO adapter trained from
the HSFT adapter against the HSFT student as reference, whose reload generates exactly what
the evaluate stage stored. Without DPO, evaluate takes hsft_eval's evaluation over (no
generation) and resumes from a cut-off copy; with another prompt it generates again."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest

from engine import runner
from engine.paradigms import PARADIGMS
from engine.paradigms.supercorrect import formats as F
from engine.store import Store, runs, traces

from .paradigm_fixtures import count, run_and_kill
from .supercorrect_fixtures import with_scripted_solve, write_recipe
from .tiny_model import ensure_tiny_model

pytestmark = [pytest.mark.slow, pytest.mark.integration]

CHILD = """
import sys
from engine.paradigms import PARADIGMS
from engine.cli import main
from tests.supercorrect_fixtures import with_scripted_solve
PARADIGMS["supercorrect"] = with_scripted_solve(PARADIGMS["supercorrect"])
sys.exit(main(sys.argv[1:]))
"""

READY = {
    "correct": lambda db, files: count(db, "SELECT COUNT(*) FROM units WHERE stage = 'correct'") >= 2,
    "dpo": lambda db, files: any(files.glob("run-1/dpo/checkpoint-1/trainer_state.json")),
}


def _run_and_kill(recipe: Path, db_path: Path, stage: str, log: Path) -> None:
    run_and_kill(["-c", CHILD, "run", str(recipe), "--db", str(db_path)], db_path,
                 READY[stage], log)
    with Store(db_path) as store:
        assert {s.name: s for s in runs.stages(store, 1)}[stage].status == "running"


def _check_corrections(store: Store) -> None:
    """Each wrong solution corrected once: teacher, inspector child, self-correction; the
    student's steps judged by the teacher up to the first wrong one."""
    wrong = [t for t in traces.page_traces(store, run_id=1, stage="solve", limit=100)
             if t.verdict == "failed"]
    assert len(wrong) >= 6
    per_parent = collections.Counter(
        (t.parent_id, t.role) for t in traces.page_traces(store, run_id=1, stage="correct",
                                                         limit=1000))
    for t in wrong:
        assert per_parent[(t.id, "corrector")] == 1 and per_parent[(t.id, "self-corrector")] == 1
        steps = [s for s in traces.get_trace(store, t.id).steps if s.kind == "step"]
        verdicts = [s.verdict for s in steps]
        k = verdicts.index("wrong") + 1
        assert verdicts[:k - 1] == ["correct"] * (k - 1) and {s.verdict_by for s in steps[:k]} == {"teacher"}
    inspectors = traces.page_traces(store, run_id=1, stage="correct", role="inspector", limit=100)
    parents = {t.id: t for t in traces.page_traces(store, run_id=1, stage="correct", limit=1000)}
    assert inspectors and all(parents[i.parent_id].role in ("corrector", "inspector")
                              for i in inspectors)
    # the lab teacher is deterministic and cached: nothing answered twice
    answered = store.query("SELECT cache_key, COUNT(*) FROM teacher_calls WHERE run_id = 1 AND "
                           "error IS NULL GROUP BY cache_key HAVING COUNT(*) > 1")
    assert len(answered) <= 2  # teacher.concurrency: what may have been on the wire


def _check_pairs(store: Store) -> None:
    pairs = store.query("SELECT * FROM pairs WHERE run_id = 1")
    assert len(pairs) >= 6
    ks = set()
    for p in pairs:
        meta = json.loads(p["meta"])
        chosen, rejected = (traces.get_trace(store, p[c]) for c in ("chosen_trace_id",
                                                                    "rejected_trace_id"))
        student = traces.get_trace(store, meta["student_trace"])
        assert chosen.role in ("corrector", "inspector") and rejected.role == "self-corrector"
        assert rejected.parent_id == student.id and chosen.parsed["final"]
        k = meta["k"]
        ks.add(k)
        assert p["chosen"].startswith(f"<Step{k}>\n<Cause>") and f"</Step{k}>" in p["rejected"]
        assert meta["prefix"] == F.steps_text(F.parse_template(student.output).steps[:k - 1])
        assert p["prompt"].endswith(meta["prefix"].rstrip())
    assert {1, 2, 3} <= ks  # first wrong step at the start, the middle and the end


def _check_dpo(store: Store, files: Path) -> None:
    """Loss logged; the reference is the HSFT student (margin 0 at step 1, the frozen "ref"
    adapter equal to HSFT's); the adapter moved away from HSFT's."""
    from safetensors.torch import load_file

    loss = store.query("SELECT value FROM metrics WHERE run_id = 1 AND stage = 'dpo' AND "
                       "name = 'train/loss'")
    assert loss and all(row[0] > 0 for row in loss)
    margins = store.query("SELECT value FROM metrics WHERE run_id = 1 AND stage = 'dpo' AND "
                          "name = 'train/reward_margin' ORDER BY step")
    assert margins and abs(margins[0][0]) < 1e-4
    hsft = load_file(str(files / "hsft" / "adapter" / "adapter_model.safetensors"))
    ref = load_file(str(files / "dpo" / "adapter" / "ref" / "adapter_model.safetensors"))
    dpo = load_file(str(files / "dpo" / "adapter" / "adapter_model.safetensors"))
    assert hsft.keys() == dpo.keys() and set(ref) == set(hsft)
    assert all((ref[k] == hsft[k]).all() for k in hsft)
    assert any(not (dpo[k] == hsft[k]).all() for k in hsft)


def _check_reload(store: Store, db_path: Path, files: Path) -> None:
    """The saved DPO adapter, reloaded, generates what the evaluate stage stored."""
    from engine.paradigms.supercorrect.stages import STOP
    from engine.student import load_student, sample
    from engine.validate import parse_recipe

    run = runs.get_run(store, 1)
    loaded = parse_recipe(run.recipe_yaml, "sc.yaml", db_path.parent)
    stored = traces.page_traces(store, run_id=1, stage="evaluate", limit=100)
    model, tok = load_student(loaded.recipe.student, for_training=False,
                              adapter=files / "dpo" / "adapter")
    prompts = [[{"role": "user", "content": t.prompt}] for t in stored if t.sample_index == 0]
    outs = sample(model, tok, prompts, k=2, temperature=0.7, max_new_tokens=24, stop=STOP,
                  seed=0, batch_size=8)
    by_item = {(t.item_id, t.sample_index): t.output for t in stored}
    firsts = [t for t in stored if t.sample_index == 0]
    for t, samples in zip(firsts, outs, strict=True):
        assert [s.text for s in samples] == [by_item[(t.item_id, 0)], by_item[(t.item_id, 1)]]


@pytest.mark.parametrize("stage", ["correct", "dpo"])
def test_kill_9_then_resume_gives_the_whole_paradigm(stage, tmp_path, db_path, models_home,
                                                     monkeypatch):
    tiny = ensure_tiny_model(models_home)
    recipe = write_recipe(tmp_path, tiny, latency_s=0.2 if stage == "correct" else 0.0)
    _run_and_kill(recipe, db_path, stage, tmp_path / "run.log")
    monkeypatch.setitem(PARADIGMS, "supercorrect", with_scripted_solve(PARADIGMS["supercorrect"]))
    status = runner.resume(1, db_path)
    files = db_path.parent / f"{db_path.stem}-files" / "run-1"
    with Store(db_path) as store:
        assert status == "completed", runs.get_run(store, 1).error
        _check_corrections(store)
        _check_pairs(store)
        _check_dpo(store, files)
        metrics = runs.latest_metrics(store, 1)
        for name in ("accuracy", "accuracy_hsft", "accuracy_template_share",
                     "accuracy_answer_disagreement", "dpo_lift_points_ci_low", "pairs"):
            assert name in metrics, name
        if stage == "dpo":
            result = json.loads((files / "dpo" / "train_result.json").read_text())
            assert result["resumed_from"] >= 1  # went on from the checkpoint
        else:
            _check_reload(store, db_path, files)


def _stage_metrics(store: Store, run_id: int, stage: str, prefix: str) -> dict[str, float]:
    """The stage's metrics named ``prefix...``, by the rest of their name."""
    rows = store.query("SELECT name, value FROM metrics WHERE run_id = ? AND stage = ? "
                       "ORDER BY id", (run_id, stage))
    return {str(n).removeprefix(prefix): float(v) for n, v in rows if str(n).startswith(prefix)}


def _evaluations(store: Store, run_id: int, stage: str) -> list[tuple]:
    return sorted((e["item_id"], e["sample_index"], e["passed"], e["trace_id"], e["details"])
                  for e in traces.evaluations(store, run_id, stage))


def _forget_evaluate(store: Store, run_id: int, keep_units: int) -> None:
    """The state a kill -9 leaves inside evaluate: its first ``keep_units`` items committed,
    the rest and its metrics not written, the stage and the run not finished."""
    kept = [r[0] for r in store.query("SELECT unit_key FROM units WHERE run_id = ? AND stage = "
                                      "'evaluate' ORDER BY rowid", (run_id,))][:keep_units]
    kept = kept or [""]  # no unit key is empty: keep none
    marks = ",".join("?" * len(kept))
    with store.transaction():
        store.conn.execute("DELETE FROM evaluations WHERE run_id = ? AND stage = 'evaluate' AND "
                           f"item_id NOT IN (SELECT id FROM items WHERE item_hash IN ({marks}))",
                           (run_id, *kept))
        store.conn.execute(f"DELETE FROM units WHERE run_id = ? AND stage = 'evaluate' AND "
                           f"unit_key NOT IN ({marks})", (run_id, *kept))
        for table in ("metrics", "steps", "traces"):
            where = "trace_id IN (SELECT id FROM traces WHERE run_id = ? AND stage = 'evaluate')" \
                if table == "steps" else "run_id = ? AND stage = 'evaluate'"
            store.conn.execute(f"DELETE FROM {table} WHERE {where}", (run_id,))
        runs.set_stage(store, run_id, "evaluate", status="running")
        runs.set_run(store, run_id, status="cancelled", pid=None)


def test_without_dpo_evaluate_takes_hsft_evals_evaluation_over(tmp_path, db_path, models_home,
                                                               monkeypatch):
    """The study's hsft arm (dpo.enabled false): evaluate would repeat hsft_eval exactly (same
    adapter, items, prompts, sampling), so it takes hsft_eval's evaluation rows over, item by
    item, and generates nothing; its metrics are hsft_eval's, and the study analysis reads the
    arm's per-item outcomes from evaluate. A kill inside the copy resumes to the same rows;
    with another prompt (the template file edited) evaluate generates its own."""
    from engine.paths import run_log_path
    from engine.studies import outcomes
    from engine.validate import load_recipe

    tiny = ensure_tiny_model(models_home)
    recipe = write_recipe(tmp_path, tiny)
    monkeypatch.setitem(PARADIGMS, "supercorrect", with_scripted_solve(PARADIGMS["supercorrect"]))
    run_id, status = runner.run_recipe(load_recipe(recipe, ["stages.dpo.enabled=false"]), db_path)
    with Store(db_path) as store:
        assert status == "completed", runs.get_run(store, run_id).error
        assert runs.artifacts(store, run_id) and not any(
            (a.get("meta") or {}).get("stage") == "dpo" for a in runs.artifacts(store, run_id))
        assert traces.count_traces(store, run_id, "evaluate") == 0  # nothing generated
        assert "cost/student_gen_tokens" not in _stage_metrics(store, run_id, "evaluate", "")
        before = _evaluations(store, run_id, "hsft_eval")
        assert len(before) >= 8 and _evaluations(store, run_id, "evaluate") == before
        hsft = _stage_metrics(store, run_id, "hsft_eval", "accuracy_hsft")
        final = _stage_metrics(store, run_id, "evaluate", "accuracy")
        assert final == hsft and {"", "_pass@2", "_template_share", "_answer_disagreement"} <= set(final)
        # the study analysis: the arm's evaluating stage and its per-item outcomes
        assert outcomes.evaluating_stage(store, run_id) == "evaluate"
        values = outcomes.item_values(store, [run_id], "accuracy", "evaluate")[run_id][None]
        assert values == outcomes.item_values(store, [run_id], "accuracy", "hsft_eval")[run_id][None]
        assert len(values) == len(before) // 2
        log = run_log_path(db_path, run_id).read_text()
        assert "evaluate takes hsft_eval's evaluation over" in log

        _forget_evaluate(store, run_id, keep_units=2)  # killed inside the copy
        assert len(_evaluations(store, run_id, "evaluate")) == 4
    assert runner.resume(run_id, db_path) == "completed"
    with Store(db_path) as store:
        assert _evaluations(store, run_id, "evaluate") == before
        assert traces.count_traces(store, run_id, "evaluate") == 0
        assert runs.latest_metrics(store, run_id)["accuracy"] == hsft[""]

        _forget_evaluate(store, run_id, keep_units=0)
    (tmp_path / "short" / "solve.j2").write_text("Other rules.\nQuestion: {{ question }}")
    assert runner.resume(run_id, db_path) == "completed"
    with Store(db_path) as store:
        own = traces.page_traces(store, run_id=run_id, stage="evaluate", limit=100)
        assert len(own) == len(before) and all(t.prompt.startswith("Other rules.") for t in own)
        assert {e[3] for e in _evaluations(store, run_id, "evaluate")} == {t.id for t in own}
        assert _stage_metrics(store, run_id, "evaluate", "cost/")["student_gen_tokens"] > 0
    assert "generates its own evaluation: hsft_eval's prompts" in run_log_path(db_path, run_id).read_text()
