"""Step labels by hand (engine side): stored beside the teacher's verdict with author and
time, surviving reload and the migration of an older project; the label queue; the three
exports checked against their formats on hand-made labels; a recipe trains on the SFT
export."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from engine import labels
from engine.cli import main
from engine.errors import DistillabError
from engine.label_export import export_labels
from engine.store import Store
from engine.store.schema import MIGRATIONS, _v5_labels_and_slices, migrate, user_version
from tests.label_fixtures import GOOD, PROBLEM, STUDENT, TEACHER, make_project, step_ids


def test_older_project_keeps_its_rows_and_gains_labels(tmp_path):
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db, isolation_level=None)
    before = MIGRATIONS.index(_v5_labels_and_slices)  # the schema just before labels
    migrate(conn, target=before)
    conn.execute("INSERT INTO runs (id, name, paradigm, status, recipe_yaml, recipe_hash) "
                 "VALUES (1, 'old', 'cot', 'completed', 'x', 'h')")
    conn.execute("INSERT INTO traces (id, run_id, stage, role, output, verdict) "
                 "VALUES (1, 1, 'solve', 'teacher', 'a\nb', 'wrong')")
    conn.execute("INSERT INTO steps (id, trace_id, idx, text, verdict, verdict_by) "
                 "VALUES (1, 1, 0, 'a', 'wrong', 'teacher:judge')")
    assert user_version(conn) == before
    conn.close()
    with Store(db) as store:
        assert user_version(store.conn) == len(MIGRATIONS)
        step = store.one("SELECT * FROM steps WHERE id = 1")
        assert (step["text"], step["verdict"], step["verdict_by"]) == ("a", "wrong",
                                                                      "teacher:judge")
        assert store.one("SELECT output FROM traces WHERE id = 1")[0] == "a\nb"
        labels.set_label(store, 1, "correct", "ann")
        assert labels.counts(store).disagreements == 1


def test_label_is_kept_beside_the_teachers_verdict_and_survives_reload(tmp_path):
    db = tmp_path / "p.db"
    ids = make_project(db)
    with Store(db) as store:
        first, second, _ = step_ids(store, ids["student"])
        mark = labels.set_label(store, second, "correct", "ann", note="7 - 2 = 5 is right")
        labels.set_label(store, first, "wrong", "ann", correction="3 * 4 = 12 apples.")
        labels.set_label(store, first, "unsure", "bob")
    with Store(db, readonly=True) as store:
        rows = store.query("SELECT s.verdict, s.verdict_by, l.label, l.author, l.note, "
                           "l.correction, l.created_at FROM step_labels l JOIN steps s "
                           "ON s.id = l.step_id ORDER BY l.id")
        assert [tuple(r)[:6] for r in rows] == [
            ("wrong", "teacher:judge", "correct", "human:ann", "7 - 2 = 5 is right", None),
            ("correct", "teacher:judge", "wrong", "human:ann", None, "3 * 4 = 12 apples."),
            ("correct", "teacher:judge", "unsure", "human:bob", None, None)]
        assert all(r["created_at"].startswith("20") for r in rows)
        assert mark.created_at == rows[0]["created_at"]
        c = labels.counts(store, ids["run"])
        # step 1: ann wrong vs teacher correct; step 2: ann correct vs teacher wrong; bob's
        # unsure is not a disagreement
        assert (c.steps, c.traces, c.disagreements) == (3, 1, 2)
        assert c.by_label == {"correct": 1, "wrong": 1, "unsure": 1}
        # the latest mark of a step wins when shown (bob's, made after ann's)
        assert labels.trace_labels(store, [ids["student"]])[first].author == "human:bob"
    with Store(db) as store:  # the same author marking again replaces their own mark
        labels.set_label(store, second, "wrong", "human:ann")
        assert store.one("SELECT COUNT(*) FROM step_labels")[0] == 3
        assert labels.counts(store).disagreements == 1


def test_bad_labels_say_what_is_wrong_and_store_nothing(tmp_path):
    db = tmp_path / "p.db"
    ids = make_project(db)
    with Store(db) as store:
        step = step_ids(store, ids["student"])[0]
        with pytest.raises(DistillabError, match="unknown label 'maybe' for step"):
            labels.set_label(store, step, "maybe", "ann")
        with pytest.raises(DistillabError, match="needs an author") as err:
            labels.set_label(store, step, "wrong", "  ")
        assert "Settings" in err.value.hint
        with pytest.raises(DistillabError, match="no step 9999"):
            labels.set_label(store, 9999, "wrong", "ann")
        assert store.one("SELECT COUNT(*) FROM step_labels")[0] == 0


def test_queue_walks_unlabelled_wrong_answer_traces_and_wraps(tmp_path):
    db = tmp_path / "p.db"
    ids = make_project(db)
    with Store(db) as store:
        assert labels.next_unlabelled(store) == ids["student"]
        assert labels.next_unlabelled(store, ids["student"]) == ids["student2"]
        assert labels.next_unlabelled(store, ids["student2"]) == ids["student"]  # wraps
        assert labels.counts(store).queue == 2
        labels.set_label(store, step_ids(store, ids["student"])[0], "correct", "ann")
        assert labels.next_unlabelled(store, ids["student2"]) == ids["student2"]
        assert labels.counts(store).queue == 1
        labels.set_label(store, step_ids(store, ids["student2"])[0], "wrong", "ann")
        assert labels.next_unlabelled(store) is None
        assert labels.next_unlabelled(store, run_id=ids["run"] + 1) is None


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def check_prm800k(row: dict) -> None:
    """PRM800K's line format (github.com/openai/prm800k, data/phase2_*.jsonl)."""
    assert isinstance(row["labeler"], str) and isinstance(row["timestamp"], str)
    assert set(row["question"]) >= {"problem", "ground_truth_answer"}
    label = row["label"]
    assert label["finish_reason"] in ("solution", "found_error", "give_up")
    assert label["steps"]
    for i, step in enumerate(label["steps"]):
        assert set(step) == {"completions", "human_completion", "chosen_completion"}
        assert len(step["completions"]) == 1
        comp = step["completions"][0]
        assert isinstance(comp["text"], str) and comp["rating"] in (-1, 0, 1)
        if comp["rating"] == -1:
            assert i == len(label["steps"]) - 1 and label["finish_reason"] == "found_error"
        assert (step["chosen_completion"] is None) == (step["human_completion"] is not None)
    if label["finish_reason"] == "solution":
        assert all(s["completions"][0]["rating"] >= 0 for s in label["steps"])


def test_exports_match_their_formats_on_hand_made_labels(tmp_path):
    db = tmp_path / "p.db"
    ids = make_project(db)
    with Store(db) as store:
        s1, s2, s3 = step_ids(store, ids["student"])
        labels.set_label(store, s1, "correct", "ann")
        labels.set_label(store, s2, "wrong", "ann", note="carries the wrong total")
        labels.set_label(store, s3, "wrong", "ann")  # after the first wrong: not in PRM
        for step in step_ids(store, ids["good"]):
            labels.set_label(store, step, "correct", "ann")
        a, _ = step_ids(store, ids["student2"])
        labels.set_label(store, a, "wrong", "bob", correction="2 + 2 = 4.")
    done = export_labels(db, ids["run"], tmp_path / "out")
    assert done.rows == {"prm": 3, "dpo": 2, "sft": 1}
    prm = {r["trace_id"]: r for r in _read(done.paths["prm"])}
    for row in prm.values():
        check_prm800k(row)
    student = prm[ids["student"]]
    assert student["question"] == {"problem": PROBLEM, "ground_truth_answer": "10"}
    assert [s["completions"][0]["rating"] for s in student["label"]["steps"]] == [1, -1]
    assert student["label"]["finish_reason"] == "found_error"
    assert student["labeler"] == "human:ann"
    assert prm[ids["good"]]["label"]["finish_reason"] == "solution"
    typed = prm[ids["student2"]]["label"]["steps"][0]
    assert typed["human_completion"]["text"] == "2 + 2 = 4." and typed["chosen_completion"] is None

    dpo = {r["trace_id"]: r for r in _read(done.paths["dpo"])}
    for row in dpo.values():  # TRL's standard preference format
        assert all(isinstance(row[k], str) and row[k] for k in ("prompt", "chosen", "rejected"))
        assert row["chosen"] != row["rejected"]
    pair = dpo[ids["student"]]
    assert pair["prompt"] == f"{PROBLEM}\n\n{STUDENT[0]}\n\n"  # problem + the correct prefix
    assert pair["rejected"] == STUDENT[1]
    assert (pair["chosen"], pair["chosen_from"]) == (TEACHER[1], f"trace {ids['teacher']}")
    assert dpo[ids["student2"]]["chosen"] == "2 + 2 = 4."
    assert dpo[ids["student2"]]["chosen_from"] == "human:bob"

    (sft,) = _read(done.paths["sft"])
    assert sft["trace_id"] == ids["good"]
    assert (sft["question"], sft["answer"], sft["solution"]) == (PROBLEM, "10", "\n".join(GOOD))
    assert [m["role"] for m in sft["messages"]] == ["user", "assistant"]


def test_dpo_skips_an_unsure_prefix_and_says_so(tmp_path):
    db = tmp_path / "p.db"
    ids = make_project(db)
    with Store(db) as store:
        s1, s2, _ = step_ids(store, ids["student"])
        labels.set_label(store, s1, "unsure", "ann")
        labels.set_label(store, s2, "wrong", "ann")
    done = export_labels(db, ids["run"], tmp_path)
    assert done.rows["dpo"] == 0
    assert done.skipped == {"dpo: an unsure step before the first wrong one": 1}
    assert [s["completions"][0]["rating"] for s in
            _read(done.paths["prm"])[0]["label"]["steps"]] == [0, -1]


SFT_RECIPE = """\
schema_version: 1
name: cot-from-labels
paradigm: cot
seed: 0
dataset:
  path: {path}
  fields: {{question: question, answer: answer, solution: solution}}
  split: {{train: 1.0, validation: 0.0, test: 0.0}}
teacher: {{kind: lab}}
student: {{model: embedded, quantization: none}}
stages:
  solve: {{source: gold, splits: [train]}}
  evaluate: {{task: gsm8k}}
"""


def test_cli_exports_labels_and_a_recipe_trains_on_the_sft_file(tmp_path, capsys):
    db = tmp_path / "p.db"
    ids = make_project(db)
    with Store(db) as store:
        for step in step_ids(store, ids["good"]):
            labels.set_label(store, step, "correct", "ann")
    out = tmp_path / "exports"
    assert main(["export", str(ids["run"]), "--what", "labels", "--db", str(db),
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "sft: 1 rows" in printed and "prm: 1 rows" in printed
    sft = out / f"run-{ids['run']}-labels-sft.jsonl"
    recipe = tmp_path / "recipes" / "from-labels.yaml"
    recipe.parent.mkdir()
    recipe.write_text(SFT_RECIPE.format(path=f"../exports/{sft.name}"), encoding="utf-8")
    assert main(["validate", str(recipe)]) == 0
    # the recipe's data set is the export: read, mapped and stored like any data file
    from engine.data import load_dataset
    from engine.validate import load_recipe

    loaded = load_recipe(recipe)
    with Store(tmp_path / "train.db") as store:
        ds = load_dataset(store, loaded.recipe.dataset, 0, loaded.base_dir)
        (data,) = [json.loads(r[0]) for r in store.query(
            "SELECT data FROM items WHERE dataset_id = ?", (ds,))]
    assert data["solution"] == "\n".join(GOOD) and data["answer"] == "10"
    assert main(["export", str(ids["run"]), "--what", "labels", "--format", "parquet",
                 "--db", str(db)]) == 1
    assert "JSONL only" in capsys.readouterr().err
