"""The SQLite store: schema, migrations, atomic units, typed accessors, concurrent reading."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from engine.store import LATEST_VERSION, StepIn, Store, items, runs, traces
from engine.store.schema import migrate, user_version


def _run(store: Store) -> int:
    return runs.create_run(store, name="r", paradigm="smoke", recipe_yaml="x: 1", seed=0,
                           stage_names=["a", "b"]).id


def test_new_database_is_at_latest_version_with_wal_and_foreign_keys(db_path):
    with Store(db_path) as store:
        assert user_version(store.conn) == LATEST_VERSION
        assert store.one("PRAGMA journal_mode")[0] == "wal"
        assert store.one("PRAGMA foreign_keys")[0] == 1
        tables = {r[0] for r in store.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"runs", "stages", "datasets", "items", "traces", "steps", "pairs", "teacher_calls",
            "metrics", "evaluations", "artifacts", "units"} <= tables


def test_older_database_is_migrated_and_keeps_its_rows(db_path):
    conn = sqlite3.connect(db_path, isolation_level=None)
    assert migrate(conn, target=1) == [1]
    conn.execute("INSERT INTO runs (name, paradigm, status, recipe_yaml, recipe_hash) "
                 "VALUES ('old', 'smoke', 'completed', 'y', 'h')")
    conn.execute("INSERT INTO traces (run_id, stage, role, output) VALUES (1, 's', 'teacher', 'o')")
    conn.close()
    with Store(db_path) as store:  # opening migrates 1 -> the latest
        assert user_version(store.conn) == LATEST_VERSION
        assert runs.get_run(store, 1).name == "old"
        trace = traces.get_trace(store, 1)
        assert trace.output == "o" and trace.flag is None  # column added by v2
        assert trace.copied_from is None  # column added by v3
        assert runs.stages(store, 1) == [] and store.query("SELECT * FROM studies") == []
        runs.mark_unit(store, 1, "s", "k")  # table added by v2
        assert runs.finished_units(store, 1, "s") == {"k"}


def test_newer_database_is_refused_with_a_clear_message(db_path):
    conn = sqlite3.connect(db_path)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 5}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer than this Distillab"):
        Store(db_path)


def test_trace_with_steps_round_trips(db_path):
    with Store(db_path) as store:
        run_id = _run(store)
        tid = traces.add_trace(store, run_id=run_id, stage="a", role="teacher", output="x\ny",
                               parsed={"k": [1, 2]}, tokens_out=7,
                               steps=[StepIn("x"), StepIn("y", kind="key", verdict="wrong",
                                                          verdict_by="teacher",
                                                          metrics={"log_ppl": 0.5})])
        trace = traces.get_trace(store, tid)
    assert trace.parsed == {"k": [1, 2]} and trace.tokens_out == 7
    assert [(s.idx, s.kind, s.text, s.verdict) for s in trace.steps] == [
        (0, "step", "x", "unknown"), (1, "key", "y", "wrong")]
    assert trace.steps[1].metrics == {"log_ppl": 0.5}


def test_transaction_is_all_or_nothing(db_path):
    with Store(db_path) as store:
        run_id = _run(store)
        with pytest.raises(ZeroDivisionError), store.transaction():
            traces.add_trace(store, run_id=run_id, stage="a", role="t", output="kept?")
            runs.mark_unit(store, run_id, "a", "u1")
            raise ZeroDivisionError
        assert traces.count_traces(store, run_id) == 0
        assert runs.finished_units(store, run_id, "a") == set()


def test_a_failed_nested_transaction_is_undone_alone(db_path):
    with Store(db_path) as store:
        run_id = _run(store)
        with store.transaction():
            traces.add_trace(store, run_id=run_id, stage="a", role="t", output="outer")
            with pytest.raises(ZeroDivisionError), store.transaction():
                traces.add_trace(store, run_id=run_id, stage="a", role="t", output="inner")
                raise ZeroDivisionError
            traces.add_trace(store, run_id=run_id, stage="a", role="t", output="after")
        outputs = [r[0] for r in store.query("SELECT output FROM traces ORDER BY id")]
    assert outputs == ["outer", "after"]


def test_a_unit_cannot_be_recorded_twice(db_path):
    with Store(db_path) as store:
        run_id = _run(store)
        runs.mark_unit(store, run_id, "a", "u1")
        with pytest.raises(sqlite3.IntegrityError):
            runs.mark_unit(store, run_id, "a", "u1")


def test_foreign_keys_are_enforced(db_path):
    with Store(db_path) as store, pytest.raises(sqlite3.IntegrityError):
        traces.add_trace(store, run_id=999, stage="a", role="t", output="o")


def test_keyset_paging_with_filters(db_path):
    with Store(db_path) as store:
        run_id = _run(store)
        for i in range(25):
            role = "teacher" if i % 2 else "student"
            traces.add_trace(store, run_id=run_id, stage="a", role=role, output=f"text {i}",
                             verdict="wrong" if i % 5 == 0 else "right")
        seen, after = [], 0
        while page := traces.page_traces(store, run_id=run_id, role="teacher", after_id=after,
                                         limit=4):
            seen += [t.output for t in page]
            after = page[-1].id
        assert seen == [f"text {i}" for i in range(1, 25, 2)]
        assert [t.output for t in traces.page_traces(store, verdict="wrong")] == [
            "text 0", "text 5", "text 10", "text 15", "text 20"]
        assert [t.output for t in traces.page_traces(store, search="text 2")] == [
            "text 2", "text 20", "text 21", "text 22", "text 23", "text 24"]


def test_reader_pages_while_a_writer_writes(db_path):
    """WAL: a second connection reads consistent pages while another thread commits."""
    with Store(db_path) as store:
        run_id = _run(store)
    stop = threading.Event()
    written = []

    def writer():
        with Store(db_path) as w:
            for i in range(300):
                with w.transaction():
                    written.append(traces.add_trace(w, run_id=run_id, stage="a", role="t",
                                                    output=str(i), steps=[StepIn("s")]))
        stop.set()

    thread = threading.Thread(target=writer)
    thread.start()
    reads = 0
    with Store(db_path, readonly=True) as reader:
        while not stop.is_set() or reads == 0:
            page = traces.page_traces(reader, run_id=run_id, limit=50)
            assert [int(t.output) for t in page] == list(range(len(page)))
            reads += 1
    thread.join()
    assert len(written) == 300 and reads > 1


def test_items_and_metrics_and_artifacts(db_path, tmp_path):
    with Store(db_path) as store:
        run_id = _run(store)
        ds = items.save_dataset(store, name="d", source="s", content_hash="h1", fields={},
                                splits={}, rows=[("train", "a", {"q": 1}), ("test", "b", {"q": 2})])
        again = items.save_dataset(store, name="d", source="s", content_hash="h1", fields={},
                                   splits={}, rows=[])
        assert again == ds
        assert [i.data for i in items.get_items(store, ds, "test")] == [{"q": 2}]
        assert items.split_counts(store, ds) == {"train": 1, "test": 1}
        runs.add_metric(store, run_id, "loss", 2.0, step=1)
        runs.add_metric(store, run_id, "loss", 1.5, step=2)
        assert runs.metric_series(store, run_id, "loss") == [(1, 2.0), (2, 1.5)]
        assert runs.latest_metrics(store, run_id) == {"loss": 1.5}
        f = tmp_path / "adapter.bin"
        f.write_bytes(b"abc")
        runs.add_artifact(store, run_id, "adapter", f)
        art = runs.artifacts(store, run_id)[0]
    assert art["bytes"] == 3
    assert art["sha256"] == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_two_processes_creating_the_same_database_at_once(tmp_path):
    """The GUI and a job's worker may open a new project together: one migrates, the
    other sees the result (no 'table already exists')."""
    import subprocess
    import sys

    from .conftest import ROOT

    db = tmp_path / "race.db"
    code = ("import sys; from engine.store import Store\n"
            "for _ in range(1): Store(sys.argv[1]).close()\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db)], cwd=ROOT,
                              stderr=subprocess.PIPE) for _ in range(6)]
    errors = [p.communicate(timeout=60)[1].decode() for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    with Store(db) as store:
        assert user_version(store.conn) == LATEST_VERSION
