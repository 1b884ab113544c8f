"""Every CLI verb: --help, and what it does on a real database."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from engine.cli import build_parser, main
from engine.paths import RECIPES_DIR

from .conftest import ROOT, smoke_recipe_text, write_jsonl

VERBS = ["run", "resume", "validate", "runs", "show", "export", "demo", "study", "teacher", "gui"]


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
