"""Every CLI verb: --help, and what it does on a real database."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from engine.cli import build_parser, main
from engine.paths import RECIPES_DIR

from .conftest import ROOT, smoke_recipe_text, write_jsonl

VERBS = ["run", "resume", "validate", "runs", "show", "export", "demo", "study", "teacher",
         "lab", "gui", "recipes", "doctor", "install-desktop", "import-adapter"]


def test_every_verb_is_listed():
    choices = build_parser()._subparsers._group_actions[0].choices
    assert sorted(choices) == sorted(VERBS)


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help(verb, capsys):
    with pytest.raises(SystemExit) as info:
        main([verb, "--help"])
    assert info.value.code == 0
    assert "--db" in capsys.readouterr().out


def _recipe(tmp_path, rows):
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    path = tmp_path / "r.yaml"
    path.write_text(smoke_recipe_text(data))
    return path


def test_run_runs_show_export(tmp_path, db_path, math_rows, capsys):
    assert main(["run", str(_recipe(tmp_path, math_rows)), "--db", str(db_path)]) == 0
    out = capsys.readouterr().out
    assert "run 1 completed" in out and "distillab show 1" in out

    assert main(["runs", "--db", str(db_path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["id"] == 1 and listed[0]["status"] == "completed"

    assert main(["show", "1", "--db", str(db_path)]) == 0
    out = capsys.readouterr().out
    assert "8/10" in out and "accuracy" in out and "echo" in out

    out_file = tmp_path / "traces.jsonl"
    assert main(["export", "1", "--db", str(db_path), "--out", str(out_file)]) == 0
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert len(rows) == 10 and rows[0]["steps"][0]["text"] == "We multiply."
    assert rows[0]["item"]["answer"] == "0"

    pq_file = tmp_path / "evals.parquet"
    assert main(["export", "1", "--db", str(db_path), "--format", "parquet", "--what",
                 "evaluations", "--out", str(pq_file)]) == 0
    import pyarrow.parquet as pq

    table = pq.read_table(pq_file)
    assert table.num_rows == 10 and sum(table.column("passed").to_pylist()) == 8


def test_resume_and_errors_are_one_clear_message(tmp_path, db_path, math_rows, capsys):
    assert main(["show", "7", "--db", str(db_path)]) == 1
    assert "No run 7" in capsys.readouterr().err
    main(["run", str(_recipe(tmp_path, math_rows)), "--db", str(db_path)])
    capsys.readouterr()
    assert main(["resume", "1", "--db", str(db_path)]) == 1
    err = capsys.readouterr().err
    assert "already completed" in err and "Traceback" not in err


def test_validate(tmp_path, capsys):
    shipped = sorted(str(p) for p in RECIPES_DIR.glob("*.yaml"))
    assert main(["validate", *shipped]) == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 1\nname: b\nparadigm: smoke\ndataset: {}\n"
                   "teacher: {concurrency: -1}\n")
    assert main(["validate", shipped[0], str(bad)]) == 1
    captured = capsys.readouterr()
    assert "ok" in captured.out
    assert "bad.yaml:4: dataset" in captured.err and "bad.yaml:5: teacher.concurrency" in captured.err


def test_demo_runs_and_says_where_the_database_is(db_path, capsys):
    """The demo verb's plumbing, on the model-free smoke recipe (the explain demo itself runs
    in tests/test_explain_demo.py)."""
    assert main(["demo", "--db", str(db_path), "--recipe", str(RECIPES_DIR / "smoke.yaml")]) == 0
    out = capsys.readouterr().out
    assert "completed" in out and str(db_path.resolve()) in out.replace("\n", "")
    assert "distillab gui --db" in out


def test_run_with_overrides_stores_what_ran(tmp_path, db_path, math_rows, capsys):
    recipe = _recipe(tmp_path, math_rows)
    assert main(["run", str(recipe), "--db", str(db_path), "--set", "dataset.limit=4",
                 "--set", "stages.summary.confidence=0.9"]) == 0
    from engine.store import Store, runs, traces

    with Store(db_path) as store:
        run = runs.get_run(store, 1)
        assert "dataset.limit=4" in run.recipe_yaml and "confidence: 0.9" in run.recipe_yaml
        assert traces.count_traces(store, 1) == 4
    assert main(["run", str(recipe), "--db", str(db_path), "--set", "nonsense"]) == 1
    assert "key.path=value" in capsys.readouterr().err


@pytest.mark.gui
def test_gui_verb_opens_and_closes(db_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "engine.cli", "gui", "--db", str(db_path),
                           "--quit-after-ms", "300"], env=env, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()


def test_console_script_is_installed():
    done = subprocess.run(["distillab", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "resume" in done.stdout


def test_lab_make_writes_a_data_set_the_same_way_twice(tmp_path, capsys):
    out = tmp_path / "arith.jsonl"
    args = ["lab", "make", "arith", "--n", "50", "--digits", "2", "--ops", "4", "--mix", "+-",
            "--distractors", "1", "--seed", "3", "-o", str(out)]
    assert main(args) == 0
    assert "wrote 50 arith problems" in capsys.readouterr().out
    first = out.read_text()
    rows = [json.loads(line) for line in first.splitlines()]
    assert len({r["question"] for r in rows}) == 50
    assert all(len(r["steps"]) == 4 and r["solution"].endswith(f"The answer is {r['answer']}.")
               for r in rows)
    assert main(args) == 1  # never overwrites by accident
    assert "exists" in capsys.readouterr().err and out.read_text() == first
    assert main([*args, "--force"]) == 0 and out.read_text() == first  # same seed, same data
    why = tmp_path / "why.jsonl"
    assert main(["lab", "make", "why", "--n", "5", "-o", str(why)]) == 0
    record = json.loads(why.read_text().splitlines()[0])
    assert record["query"].endswith("Explain why this total is right.") and record["reference"]
    assert main(["lab", "make", "arith", "--n", "5", "--ops", "9", "-o", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err
    assert "ops must be 2 to 5, got 9" in err and "Traceback" not in err


def test_lab_teacher_runs_alone_and_answers_over_http(tmp_path):
    from engine.lab import arith
    from engine.lab.chain import check_chain
    from engine.prompts import render
    from engine.recipes import TeacherSpec
    from engine.teacher import Request, open_teacher

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli", "lab", "teacher", "--port", "0",
                             "--error-rate", "1", "--style", "carry"], env=env,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/v1", line)
        assert url and "error_rate=1" in line, line
        item = arith.generate(1, arith.Dials(), 0)[0]
        spec = TeacherSpec(kind="openai", base_url=url.group(0), model="lab", use_keyring=False)
        with open_teacher(spec) as teacher:
            result = teacher.chat(Request(messages=[{"role": "user", "content": render(
                "prompts/cot/solve.j2", None, question=item.question)}]))
        assert result.ok and not check_chain(item, result.text).correct  # always wrong here
    finally:
        proc.terminate()
        proc.wait(10)


def test_demo_of_a_paradigm_without_one_names_the_demos_there_are(db_path, capsys):
    assert main(["demo", "nosuch", "--db", str(db_path)]) == 1
    err = capsys.readouterr().err
    assert "no demo for 'nosuch'" in err and "supercorrect" in err and "explain" in err
