"""REER's search on the lab's `why` family: the scripted lab teacher over real HTTP drafts and
edits, the tiny model scores. The score never gets worse and the search stops at the
threshold; kill -9 mid-search, then resume: it goes on at the segment where it stopped and
scores no committed candidate again. Filter, train and evaluate do nothing here;
tests/test_reer_pipeline.py runs the whole pipeline."""

from __future__ import annotations

import dataclasses
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from engine import runner
from engine.paradigms import PARADIGMS, Paradigm
from engine.stage import StageContext
from engine.store import Store, runs
from engine.validate import parse_recipe

from .conftest import ROOT
from .tiny_model import ensure_tiny_model

pytestmark = [pytest.mark.slow, pytest.mark.integration]

CHILD = """
import sys
from engine.paradigms import PARADIGMS
from engine.cli import main
from tests.test_reer_search import search_only
PARADIGMS["reer"] = search_only(PARADIGMS["reer"])
sys.exit(main(sys.argv[1:]))
"""


def _nothing(ctx: StageContext) -> None:
    pass


def search_only(reer: Paradigm) -> Paradigm:
    """reer with only its draft and search stages doing anything."""
    return dataclasses.replace(reer, stages=tuple(
        s if s.name in ("draft", "search") else dataclasses.replace(s, run=_nothing)
        for s in reer.stages))


def recipe_text(student: Path, *, stop_below: float = 0.0, latency: float = 0.0,
                n: int = 10, batch_items: int = 8) -> str:
    return (
        "schema_version: 1\nname: reer-test\nparadigm: reer\nseed: 0\n"
        f"dataset:\n  lab: {{family: why, n: {n}, digits: 1, ops: 3, seed: 1}}\n"
        "  split: {train: 0.6, validation: 0.1, test: 0.3}\n"
        f"teacher: {{kind: lab, concurrency: 4, max_tokens: 512, lab: {{latency_s: {latency}}}}}\n"
        f"student:\n  model: {student}\n  quantization: none\n  max_length: 1024\n"
        "  gradient_checkpointing: false\n  lora: {r: 4, alpha: 8, dropout: 0.0}\n"
        "training: {max_steps: 2, batch_size: 2, grad_accum: 1, save_steps: 1, eval_steps: 1,\n"
        "           logging_steps: 1, learning_rate: 0.001}\n"
        "evaluation: {split: test, max_new_tokens: 12}\n"
        # The tiny model is random: nearly every log-prob is under -2, so with the paper's
        # clip every score would be 2.0. A wide clip lets scores differ.
        f"stages:\n  search: {{max_steps: 4, stop_below: {stop_below}, clip: 30.0, "
        f"batch_items: {batch_items}}}\n"
        "  evaluate: {correlation_items: 4}\n")


def _run(db: Path, text: str, tmp_path: Path) -> int:
    run_id, status = runner.run_recipe(parse_recipe(text, str(tmp_path / "r.yaml"), tmp_path), db)
    with Store(db) as store:
        assert status == "completed", runs.get_run(store, run_id).error
    return run_id


def _search(db: Path, run_id: int = 1) -> dict[int, list[dict]]:
    """Per item: its z0 and candidate traces in id order (role, id, score, parsed)."""
    from engine.store import from_json

    with Store(db) as store:
        rows = store.query("SELECT id, item_id, role, score, parsed, parent_id FROM traces "
                           "WHERE run_id = ? AND stage = 'search' ORDER BY id", (run_id,))
    out: dict[int, list[dict]] = defaultdict(list)
    for tid, item, role, score, parsed, parent in rows:
        out[item].append({"id": tid, "role": role, "score": score, "parent": parent,
                          "info": from_json(parsed) or {}})
    return out


def _check_never_worse(per_item: dict[int, list[dict]], stop_below: float) -> None:
    for rows in per_item.values():
        z0 = [r for r in rows if r["role"] == "z0"]
        final = [r for r in rows if r["role"] == "z-star"]
        assert len(z0) == 1 and len(final) == 1
        best, best_id = z0[0]["score"], z0[0]["id"]
        by_step: dict[int, list[dict]] = defaultdict(list)
        for r in rows:
            if r["role"] == "candidate":
                by_step[r["info"]["segment"]].append(r)
        for step in sorted(by_step):
            assert best >= stop_below, "edited after the score was below the threshold"
            cands = by_step[step]
            assert all(c["parent"] == best_id for c in cands)  # edited from the best z
            scored = [c for c in cands if c["score"] is not None]
            taken = [c for c in scored if c["info"]["accepted"]]
            low = min((c["score"] for c in scored), default=None)
            if low is not None and low < best:
                assert len(taken) == 1 and taken[0]["score"] == low
                assert taken[0]["info"]["delta"] == pytest.approx(low - best)
                best, best_id = low, taken[0]["id"]
            else:
                assert not taken  # no candidate beat the best: nothing accepted
        info = final[0]["info"]
        assert info["score"] == pytest.approx(best) and info["score"] <= info["score_z0"]
        assert final[0]["score"] == pytest.approx(info["score_z0"] - best)
        steps_done = sorted(by_step)
        assert steps_done == list(range(len(steps_done)))  # segments in order, none skipped


def test_the_search_never_gets_worse_and_stops_at_the_threshold(tmp_path, models_home,
                                                                   monkeypatch):
    monkeypatch.setitem(PARADIGMS, "reer", search_only(PARADIGMS["reer"]))
    tiny = ensure_tiny_model(models_home)
    _run(tmp_path / "a.db", recipe_text(tiny, stop_below=0.0), tmp_path)
    full = _search(tmp_path / "a.db")
    _check_never_worse(full, 0.0)
    # every item was searched through all its segments (max_steps 4): nothing stops at 0
    assert all(sum(r["role"] == "candidate" for r in rows) >= 4 * 2 for rows in full.values()
               if len([r for r in rows if r["role"] == "z0"]))
    # The same data, teacher and scorer again, with the threshold at the median z0 score:
    # items starting below it get no edit at all; the others are edited until below it.
    z0 = {item: next(r["score"] for r in rows if r["role"] == "z0") for item, rows in full.items()}
    threshold = statistics.median(z0.values())
    _run(tmp_path / "b.db", recipe_text(tiny, stop_below=threshold), tmp_path)
    cut = _search(tmp_path / "b.db")
    _check_never_worse(cut, threshold)
    for item, rows in cut.items():
        edited = [r for r in rows if r["role"] == "candidate"]
        if z0[item] < threshold:
            assert not edited
        else:
            assert edited and edited[0]["info"]["segment"] == 0
            assert rows[0]["score"] == pytest.approx(z0[item])  # deterministic scorer
    assert any(z0[i] < threshold for i in z0) and any(z0[i] >= threshold for i in z0)
    with Store(tmp_path / "b.db") as store:
        cost = store.one("SELECT SUM(value) FROM metrics WHERE name = "
                         "'cost/student_score_tokens'")[0]
        tokens = sum(r["info"].get("score_tokens", 0) for rows in cut.values() for r in rows
                     if r["role"] != "z-star")
    assert cost == tokens > 0


def _count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    try:
        with Store(db) as store:
            row = store.one(sql)
    except Exception:  # the schema may not exist yet
        return 0
    return int(row[0]) if row else 0


def test_kill_9_mid_search_resumes_at_the_segment_without_rescoring(tmp_path, db_path,
                                                                     models_home, monkeypatch):
    tiny = ensure_tiny_model(models_home)
    recipe = tmp_path / "r.yaml"
    recipe.write_text(recipe_text(tiny, latency=0.25, batch_items=3))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, "run", str(recipe), "--db",
                             str(db_path)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    candidates = "SELECT COUNT(*) FROM traces WHERE stage = 'search' AND role = 'candidate'"
    try:
        deadline = time.monotonic() + 180
        while _count(db_path, candidates) < 6:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "the search never got going"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(30)
    before = _search(db_path)
    last_id = max(r["id"] for rows in before.values() for r in rows)
    assert not any(r["role"] == "z-star" for rows in before.values() for r in rows) or \
        sum(r["role"] == "z-star" for rows in before.values() for r in rows) < len(before)

    import importlib

    # the package's `search` name is the stage function; the module is what scores
    search_module = importlib.import_module("engine.paradigms.reer.search")

    scored: list[str] = []
    real = search_module.score_thinkings

    def counting(model, tokenizer, prompts, thinkings, answers, **kw):
        scored.extend(thinkings)
        return real(model, tokenizer, prompts, thinkings, answers, **kw)

    monkeypatch.setattr(search_module, "score_thinkings", counting)
    assert runner.resume(1, db_path) == "completed"
    after = _search(db_path)
    _check_never_worse(after, 0.0)
    new = [r for rows in after.values() for r in rows if r["id"] > last_id]
    # committed before the kill: still there, unchanged, and never scored again
    old = {r["id"]: r for rows in before.values() for r in rows}
    assert all(old[i]["score"] == r["score"] for rows in after.values() for r in rows
               if (i := r["id"]) in old)
    assert len(scored) == sum(r["role"] in ("z0", "candidate") and r["score"] is not None
                              for r in new)
    # it goes on at the segment where it stopped: per item, no segment edited twice
    cut_mid_item = 0
    for item, rows in after.items():
        per_step: dict[int, int] = defaultdict(int)
        for r in rows:
            if r["role"] == "candidate":
                per_step[r["info"]["segment"]] += 1
        assert all(n == 2 for n in per_step.values()), (item, per_step)
        resumed = [r["info"]["segment"] for r in rows if r["role"] == "candidate"
                   and r["id"] > last_id]
        done = [r["info"]["segment"] for r in before.get(item, []) if r["role"] == "candidate"]
        if resumed and done:
            assert resumed[0] == max(done) + 1
            cut_mid_item += 1
    assert cut_mid_item >= 1  # the kill fell inside an item's search
    with Store(db_path) as store:
        answered = store.query("SELECT cache_key, COUNT(*) FROM teacher_calls WHERE run_id = 1 "
                               "AND error IS NULL GROUP BY cache_key")
    assert answered and all(n == 1 for _, n in answered)  # nothing asked twice
