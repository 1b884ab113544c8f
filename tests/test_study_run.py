"""Running studies: arms x seeds on the smoke paradigm, shared stages computed once and
copied (counts asserted in the store), kill -9 mid-study then resume, cancel, and the copy
of a stage with parent links, pairs and artifacts remapped."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from engine import events as ev
from engine.store import StepIn, Store, runs, studies, traces
from engine.studies import reuse
from engine.studies import runner as study_runner
from engine.studies.spec import parse_study

from .conftest import smoke_recipe_text, spawn_cli, write_jsonl

STUDY = """schema_version: 1
name: two-by-two
base: base.yaml
seeds: [0, 1]
arms:
  - name: exact
    set: {{stages.check.noise: 0.0}}
  - name: noisy
    set: {{stages.check.noise: 0.4}}
comparisons:
  - metric: accuracy
    stage: check
"""


def _study(tmp_path, math_rows, delay: float = 0.0):
    data = write_jsonl(tmp_path / "d.jsonl", math_rows)
    params = {"echo": {"delay_s": delay}, "check": {"delay_s": delay}} if delay else {}
    (tmp_path / "base.yaml").write_text(smoke_recipe_text(data, **params))
    path = tmp_path / "study.yaml"
    path.write_text(STUDY.format())
    return path


def _counts(db_path) -> dict[str, object]:
    """What the store holds for study 1, by (arm, seed)."""
    with Store(db_path) as store:
        rows = studies.study_runs(store, 1)
        out: dict[str, object] = {
            "runs": store.one("SELECT COUNT(*) FROM runs")[0],
            "study_runs": [(r.arm, r.seed, r.status) for r in rows],
        }
        for r in rows:
            stages = {s.name: s for s in runs.stages(store, r.run_id)}
            units = dict(store.query("SELECT stage, COUNT(*) FROM units WHERE run_id = ? "
                                     "GROUP BY stage", (r.run_id,)))
            echo = store.query("SELECT COUNT(*), COUNT(copied_from), COUNT(DISTINCT item_id) "
                               "FROM traces WHERE run_id = ? AND stage = 'echo'", (r.run_id,))[0]
            evals = store.one("SELECT COUNT(*), COUNT(DISTINCT e.item_id), "
                              "SUM(t.run_id = e.run_id) FROM evaluations e JOIN traces t ON "
                              "t.id = e.trace_id WHERE e.run_id = ?", (r.run_id,))
            out[f"{r.arm}/{r.seed}"] = {
                "reused": {n: s.reused_from for n, s in stages.items() if s.reused_from},
                "units": units, "echo": tuple(echo), "evals": tuple(evals),
                "status": {n: s.status for n, s in stages.items()}}
    return out


def _assert_complete_once(db_path):
    c = _counts(db_path)
    assert c["runs"] == 4  # no run made twice
    assert c["study_runs"] == [("exact", 0, "completed"), ("noisy", 0, "completed"),
                               ("exact", 1, "completed"), ("noisy", 1, "completed")]
    for key in ("exact/0", "noisy/0", "exact/1", "noisy/1"):
        run = c[key]
        assert run["units"] == {"echo": 10, "check": 10}, key  # every unit exactly once
        assert run["evals"] == (10, 10, 10), key  # each judges this run's own trace
        assert set(run["status"].values()) == {"completed"}
    # echo is shared: computed by the exact arm of each seed, copied by the noisy arm
    assert c["exact/0"]["echo"] == (10, 0, 10) and c["exact/1"]["echo"] == (10, 0, 10)
    assert c["noisy/0"]["echo"] == (10, 10, 10) and c["noisy/1"]["echo"] == (10, 10, 10)
    assert c["exact/0"]["reused"] == {} and c["exact/1"]["reused"] == {}
    assert c["noisy/0"]["reused"] == {"echo": 1} and c["noisy/1"]["reused"] == {"echo": 3}
    with Store(db_path) as store:
        # across the whole project, each seed's echo traces were made once
        made = store.one("SELECT COUNT(*) FROM traces WHERE stage = 'echo' "
                         "AND copied_from IS NULL")[0]
        assert made == 20
        steps = store.query("SELECT t.run_id, COUNT(*) FROM steps s JOIN traces t ON "
                            "t.id = s.trace_id GROUP BY t.run_id ORDER BY t.run_id")
        assert [n for _, n in steps] == [30, 30, 30, 30]  # 3 steps per copied trace too
    return c


def test_two_arms_two_seeds_share_the_echo_stage_and_report_paired_stats(
        tmp_path, db_path, math_rows):
    from engine.studies.analysis import analyse

    seen: list[ev.Event] = []
    loaded = parse_study(_study(tmp_path, math_rows).read_text(), "study.yaml", tmp_path)
    study_id, status = study_runner.run_study(loaded, db_path, on_event=seen.append)
    assert (study_id, status) == (1, "completed")
    _assert_complete_once(db_path)
    progress = [(e.done, e.total, e.arm, e.seed) for e in seen if isinstance(e, ev.StudyProgress)]
    assert progress == [(0, 4, "exact", 0), (1, 4, "noisy", 0), (2, 4, "exact", 1),
                        (3, 4, "noisy", 1), (4, 4, "", 0)]
    reused = [e for e in seen if isinstance(e, ev.StageFinished) and e.status == "reused"]
    assert [(e.run_id, e.stage) for e in reused] == [(2, "echo"), (4, "echo")]
    assert isinstance(seen[0], ev.StudyStarted) and isinstance(seen[-1], ev.StudyFinished)
    with Store(db_path) as store:
        a = analyse(store, 1)
        assert a.reuse_counts() == (10, 2)
        (comp,) = a.comparisons
        exact, _ = comp.arms
        # items 8 and 9 carry a wrong gold answer: the exact check passes 8 of 10 per seed
        assert exact.estimate.mean == pytest.approx(0.8) and exact.estimate.n == 20
        (pair,) = comp.pairs
        assert pair.result.test == "McNemar exact" and pair.result.diff.n == 20
        flips = pair.result.wins + pair.result.losses
        assert flips > 0 and pair.result.diff.mean == pytest.approx(
            (pair.result.wins - pair.result.losses) / 20)
        # the copied echo stage costs the noisy arm what it cost the run that computed it
        assert a.costs["noisy"]["student_gen_tokens"].mean == \
            a.costs["exact"]["student_gen_tokens"].mean > 0
        assert a.stage_seconds["noisy"]["echo"].mean == a.stage_seconds["exact"]["echo"].mean
        with pytest.raises(Exception, match="already completed"):
            study_runner.resume_study(1, db_path)


def _wait(db_path, proc, sql, at_least, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the study ended before it could be killed"
        if db_path.exists():
            with Store(db_path) as store:
                row = store.one(sql)
            if row and row[0] >= at_least:
                return
        time.sleep(0.05)
    raise AssertionError(f"never reached: {sql} >= {at_least}")


@pytest.mark.slow
def test_kill_9_mid_study_then_resume_completes_every_run_once(tmp_path, db_path, math_rows):
    path = _study(tmp_path, math_rows, delay=0.08)
    proc = spawn_cli("study", "run", str(path), "--db", str(db_path))
    try:  # in the middle of the second seed's echo stage (run 3), after a copied stage
        _wait(db_path, proc, "SELECT COUNT(*) FROM units WHERE run_id = 3 AND stage = 'echo'", 3)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with Store(db_path) as store:
        study = studies.get_study(store, 1)
        assert study.status == "running" and study.shown_status == "interrupted"
        assert [r.status for r in studies.study_runs(store, 1)] == \
            ["completed", "completed", "interrupted", "pending"]
        assert 3 <= len(runs.finished_units(store, 3, "echo")) < 10
    seen: list[ev.Event] = []
    assert study_runner.resume_study(1, db_path, on_event=seen.append) == "completed"
    started = next(e for e in seen if isinstance(e, ev.StudyStarted))
    assert started.resumed and started.done == 2
    assert [e.run_id for e in seen if isinstance(e, ev.RunStarted)] == [3, 4]
    _assert_complete_once(db_path)


@pytest.mark.slow
def test_ctrl_c_mid_study_names_the_study_resume_command(tmp_path, db_path, math_rows):
    path = _study(tmp_path, math_rows, delay=0.08)
    proc = spawn_cli("study", "run", str(path), "--db", str(db_path), ctrl_c=True)
    try:  # in run 3, so the run's own resume command would be the wrong advice
        _wait(db_path, proc, "SELECT COUNT(*) FROM units WHERE run_id = 3 AND stage = 'echo'", 3)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 3, err
    assert f"distillab study resume 1 --db {db_path}" in err
    assert "distillab resume 3" not in err
    assert study_runner.resume_study(1, db_path) == "completed"
    _assert_complete_once(db_path)


def test_cancel_stops_the_study_and_resume_goes_on(tmp_path, db_path, math_rows):
    loaded = parse_study(_study(tmp_path, math_rows).read_text(), "study.yaml", tmp_path)
    seen: list[ev.Event] = []

    def after_two_runs() -> bool:
        return sum(isinstance(e, ev.JobFinished) for e in seen) >= 2 and \
            sum(isinstance(e, ev.TraceStored) for e in seen) >= 14

    study_id, status = study_runner.run_study(loaded, db_path, on_event=seen.append,
                                              cancelled=after_two_runs)
    assert status == "cancelled"
    finished = [e for e in seen if isinstance(e, ev.StudyFinished)]
    assert finished[-1].status == "cancelled" and "study resume 1" in finished[-1].message
    with Store(db_path) as store:
        assert studies.get_study(store, 1).status == "cancelled"
        statuses = [r.status for r in studies.study_runs(store, 1)]
        assert statuses == ["completed", "completed", "cancelled", "pending"]
        assert len(runs.finished_units(store, 3, "echo")) == 4  # run 3 (no echo to copy) made 4
    assert study_runner.resume_study(study_id, db_path) == "completed"
    _assert_complete_once(db_path)


def test_copy_stage_remaps_parents_evaluations_pairs_and_keeps_artifact_files(db_path, tmp_path):
    adapter = tmp_path / "adapter.bin"
    adapter.write_bytes(b"weights")
    with Store(db_path) as store:
        src = runs.create_run(store, name="a", paradigm="smoke", recipe_yaml="x", seed=0,
                              stage_names=["gen", "revise"]).id
        dst = runs.create_run(store, name="b", paradigm="smoke", recipe_yaml="x", seed=0,
                              stage_names=["gen", "revise"]).id
        other = runs.create_run(store, name="c", paradigm="smoke", recipe_yaml="x", seed=0,
                                stage_names=["gen", "revise"]).id
        g = traces.add_trace(store, run_id=src, stage="gen", role="student", output="s",
                             steps=[StepIn("one"), StepIn("two", verdict="wrong")])
        r1 = traces.add_trace(store, run_id=src, stage="revise", role="teacher", output="r1",
                              parent_id=g, parsed={"student_trace": g, "k": 2})
        r2 = traces.add_trace(store, run_id=src, stage="revise", role="teacher", output="r2",
                              parent_id=r1, steps=[StepIn("fixed")])
        traces.add_evaluation(store, run_id=src, stage="revise", item_id=None, passed=True,
                              trace_id=r2)
        traces.add_pair(store, run_id=src, stage="revise", prompt="p", chosen="r2",
                        rejected="s", chosen_trace_id=r2, rejected_trace_id=g,
                        meta={"student_trace": g, "k": 2})
        runs.add_metric(store, src, "cost/student_gen_tokens", 7.0, stage="revise")
        runs.mark_unit(store, src, "revise", "u1")
        runs.add_artifact(store, src, "adapter", adapter, {"stage": "revise"})
        runs.add_artifact(store, src, "export", adapter, {"stage": "gen"})
        for name in ("gen", "revise"):
            runs.set_stage(store, src, name, status="completed", input_key=f"k-{name}")
        # 'revise' refers to the gen trace: it cannot be copied into a run without a copy
        assert reuse.copy_stage(store, src, other, "revise") is None
        assert traces.count_traces(store, other) == 0
        assert reuse.reuse_stage(store, other, "revise", "k-revise", ["gen"]) is None
        # a run that reused 'gen' can reuse 'revise' too
        assert reuse.reuse_stage(store, dst, "gen", "k-gen", []) == (src, {
            "steps": 2, "traces": 1, "evaluations": 0, "pairs": 0, "metrics": 0, "units": 0,
            "artifacts": 1, "teacher answers": 0})
        source, counts = reuse.reuse_stage(store, dst, "revise", "k-revise", ["gen"])
        assert source == src and counts["traces"] == 2 and counts["artifacts"] == 1
        copies = {t.output: traces.get_trace(store, t.id) for t in traces.page_traces(
            store, run_id=dst)}
        assert copies["r1"].parent_id == copies["s"].id and copies["r2"].parent_id == \
            copies["r1"].id
        assert copies["r2"].copied_from == r2 and [s.text for s in copies["r2"].steps] == ["fixed"]
        assert [s.verdict for s in copies["s"].steps] == ["unknown", "wrong"]
        (e,) = traces.evaluations(store, dst)
        assert e["trace_id"] == copies["r2"].id
        pair = store.one("SELECT chosen_trace_id, rejected_trace_id FROM pairs WHERE run_id = ?",
                         (dst,))
        assert tuple(pair) == (copies["r2"].id, copies["s"].id)
        # trace ids named inside JSON (a correction's student_trace) point at this run's copies
        assert copies["r1"].parsed == {"student_trace": copies["s"].id, "k": 2}
        (meta,) = store.one("SELECT meta FROM pairs WHERE run_id = ?", (dst,))
        assert json.loads(meta) == {"student_trace": copies["s"].id, "k": 2}
        assert runs.finished_units(store, dst, "revise") == {"u1"}
        assert runs.latest_metrics(store, dst) == {"cost/student_gen_tokens": 7.0}
        arts = runs.artifacts(store, dst)
        assert sorted(a["kind"] for a in arts) == ["adapter", "export"]
        assert {a["path"] for a in arts} == {str(adapter)}  # the same file, not a copy
        stages = {s.name: s for s in runs.stages(store, dst)}
        assert stages["revise"].status == "completed" and stages["revise"].reused_from == src
        # a stage with rows of its own is never overwritten by a copy
        assert not reuse.can_reuse(store, dst, "revise", ["gen"])


def test_stage_keys_follow_inputs_not_operational_settings(tmp_path, math_rows):
    from engine.paradigms import PARADIGMS
    from engine.validate import parse_recipe

    data = write_jsonl(tmp_path / "d.jsonl", math_rows)
    (tmp_path / "t.j2").write_text("template one")

    def keys(**changes):
        text = smoke_recipe_text(data, echo={"text_field": changes.get("field", "solution")},
                                 check={"answer_field": "t.j2"},
                                 summary={"confidence": changes.get("confidence", 0.95)})
        text += f"teacher: {{concurrency: {changes.get('concurrency', 8)}}}\n"
        text = text.replace("seed: 3", f"seed: {changes.get('seed', 3)}")
        loaded = parse_recipe(text, str(tmp_path / "r.yaml"), tmp_path)
        return reuse.stage_keys(loaded, PARADIGMS["smoke"].stages, changes.get("data", "h"))

    base = keys()
    assert list(base) == ["echo", "check", "summary"] and len(set(base.values())) == 3
    assert keys(concurrency=64) == base  # how requests are sent changes no result
    later = keys(confidence=0.9)  # a later stage's parameter leaves earlier keys alone
    assert later["echo"] == base["echo"] and later["check"] == base["check"]
    assert later["summary"] != base["summary"]
    other_data = keys(data="other")
    assert all(other_data[s] != base[s] for s in base)  # every later key chains the earlier
    seed = keys(seed=4)  # echo reads only the data set (whose hash covers the split seed)
    assert seed["echo"] == base["echo"] and seed["check"] != base["check"]
    assert keys(field="question")["check"] != base["check"]
    (tmp_path / "t.j2").write_text("template two")  # a named file counts by its content
    assert keys()["check"] != base["check"] and keys()["echo"] == base["echo"]


def test_every_stage_reads_only_known_sections():
    from engine.paradigms import PARADIGMS

    for paradigm in PARADIGMS.values():
        for spec in paradigm.stages:
            assert spec.reads is None or set(spec.reads) <= set(reuse.SECTIONS), spec.name


def test_stage_keys_change_with_the_paradigms_code(tmp_path, math_rows, monkeypatch):
    from engine.paradigms import PARADIGMS
    from engine.validate import parse_recipe

    data = write_jsonl(tmp_path / "d.jsonl", math_rows)
    loaded = parse_recipe(smoke_recipe_text(data), str(tmp_path / "r.yaml"), tmp_path)
    before = reuse.stage_keys(loaded, PARADIGMS["smoke"].stages, "h")
    assert len(reuse.code_digest("smoke")) == 64 and reuse.code_digest("smoke") != \
        reuse.code_digest("explain")
    monkeypatch.setattr(reuse, "code_digest", lambda paradigm: "edited")
    after = reuse.stage_keys(loaded, PARADIGMS["smoke"].stages, "h")
    assert all(after[s] != before[s] for s in before)
