"""The SQLite schema of a Distillab project, as step-by-step migrations.

Each migration takes the database from version N to N+1 (``PRAGMA user_version``).
Never edit a released migration: append a new one. Tables are created through
sqlite-utils so the column lists read like the design card in DESIGN.md; anyone can
open the file with ``sqlite3`` or Datasette, so columns are named plainly.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import sqlite_utils

Migration = Callable[[sqlite_utils.Database], None]


def _v1_core(db: sqlite_utils.Database) -> None:
    """Version 1: runs, stages, data, traces, steps, pairs, calls, metrics, evaluations, artifacts."""
    db.table("runs").create(
        {
            "id": int, "name": str, "paradigm": str, "status": str, "seed": int,
            "recipe_yaml": str, "recipe_hash": str, "recipe_path": str,
            "teacher": str, "student": str, "dataset_id": int,
            "created_at": str, "started_at": str, "finished_at": str,
            "error": str, "pid": int,
        },
        pk="id", not_null={"paradigm", "status", "recipe_yaml", "recipe_hash"},
    )
    db.table("stages").create(
        {
            "id": int, "run_id": int, "name": str, "position": int, "status": str,
            "done": int, "total": int, "started_at": str, "finished_at": str,
            "seconds": float, "error": str,
        },
        pk="id", foreign_keys=[("run_id", "runs", "id")], not_null={"run_id", "name", "status"},
        defaults={"done": 0, "total": 0, "seconds": 0.0},
    )
    db.table("stages").create_index(["run_id", "name"], unique=True)
    db.table("datasets").create(
        {
            "id": int, "name": str, "source": str, "content_hash": str, "fields": str,
            "splits": str, "n_items": int, "created_at": str,
        },
        pk="id", not_null={"content_hash"},
    )
    db.table("datasets").create_index(["content_hash"], unique=True)
    db.table("items").create(
        {"id": int, "dataset_id": int, "idx": int, "split": str, "item_hash": str, "data": str},
        pk="id", foreign_keys=[("dataset_id", "datasets", "id")], not_null={"dataset_id", "data"},
    )
    db.table("items").create_index(["dataset_id", "idx"], unique=True)
    db.table("traces").create(
        {
            "id": int, "run_id": int, "stage": str, "item_id": int, "role": str, "model": str,
            "prompt": str, "output": str, "parsed": str, "tokens_in": int, "tokens_out": int,
            "latency_s": float, "cost_usd": float, "parent_id": int, "sample_index": int,
            "score": float, "verdict": str, "created_at": str,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id"), ("item_id", "items", "id"),
                      ("parent_id", "traces", "id")],
        not_null={"run_id", "stage", "role"}, defaults={"sample_index": 0},
    )
    db.table("traces").create_index(["run_id", "stage", "role"])
    db.table("traces").create_index(["item_id"])
    db.table("steps").create(
        {
            "id": int, "trace_id": int, "idx": int, "kind": str, "text": str,
            "verdict": str, "verdict_by": str, "metrics": str,
        },
        pk="id", foreign_keys=[("trace_id", "traces", "id")], not_null={"trace_id", "idx", "text"},
        defaults={"kind": "step", "verdict": "unknown"},
    )
    db.table("steps").create_index(["trace_id", "idx"], unique=True)
    db.table("pairs").create(
        {
            "id": int, "run_id": int, "stage": str, "item_id": int, "prompt": str,
            "chosen": str, "rejected": str, "chosen_trace_id": int, "rejected_trace_id": int,
            "meta": str,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id"), ("item_id", "items", "id"),
                      ("chosen_trace_id", "traces", "id"), ("rejected_trace_id", "traces", "id")],
        not_null={"run_id", "prompt", "chosen", "rejected"},
    )
    db.table("teacher_calls").create(
        {
            "id": int, "cache_key": str, "run_id": int, "stage": str, "endpoint": str,
            "model": str, "request": str, "response": str, "tokens_in": int, "tokens_out": int,
            "latency_s": float, "cost_usd": float, "error": str, "created_at": str,
        },
        pk="id", foreign_keys=[("run_id", "runs", "id")], not_null={"cache_key"},
    )
    db.table("teacher_calls").create_index(["cache_key"])
    db.table("teacher_calls").create_index(["run_id", "stage"])
    db.table("metrics").create(
        {"id": int, "run_id": int, "stage": str, "name": str, "step": int, "value": float,
         "created_at": str},
        pk="id", foreign_keys=[("run_id", "runs", "id")], not_null={"run_id", "name", "value"},
    )
    db.table("metrics").create_index(["run_id", "name", "step"])
    db.table("evaluations").create(
        {
            "id": int, "run_id": int, "stage": str, "item_id": int, "trace_id": int,
            "sample_index": int, "passed": int, "score": float, "details": str, "time_s": float,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id"), ("item_id", "items", "id"),
                      ("trace_id", "traces", "id")],
        not_null={"run_id", "stage"},
    )
    db.table("evaluations").create_index(["run_id", "stage", "item_id"])
    db.table("artifacts").create(
        {"id": int, "run_id": int, "kind": str, "path": str, "sha256": str, "bytes": int,
         "meta": str, "created_at": str},
        pk="id", foreign_keys=[("run_id", "runs", "id")], not_null={"kind", "path"},
    )


def _v2_units_and_flags(db: sqlite_utils.Database) -> None:
    """Version 2: finished work units (resume bookkeeping) and a flag for rejected traces.

    ``units`` holds one row per finished unit of a stage, keyed by a content hash, written
    in the same transaction as the unit's results: that is what makes a resumed run count
    every unit exactly once. ``traces.flag`` says why a trace was excluded (e.g. an
    unparsable teacher answer) without deleting it.
    """
    db.table("units").create(
        {"run_id": int, "stage": str, "unit_key": str, "finished_at": str},
        pk=("run_id", "stage", "unit_key"), foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("traces").add_column("flag", str)


def _v3_studies_and_reuse(db: sqlite_utils.Database) -> None:
    """Version 3: studies (arms x seeds as one experiment) and stage reuse between runs.

    ``studies`` holds a study file's snapshot and its status; ``study_runs`` one row per arm
    and seed, pointing at the run that does it (all runs are created with the study, in one
    transaction, so a resumed study never makes a run twice). ``stages.input_key`` is the
    content key of everything a stage depends on; ``stages.reused_from`` names the run that
    computed a stage this run copied instead of recomputing; ``traces.copied_from`` the
    original trace of a copy (so parent links of later copies can be remapped).
    """
    db.table("studies").create(
        {
            "id": int, "name": str, "spec_yaml": str, "spec_hash": str, "spec_path": str,
            "status": str, "created_at": str, "started_at": str, "finished_at": str,
            "error": str, "pid": int,
        },
        pk="id", not_null={"name", "spec_yaml", "status"},
    )
    db.table("study_runs").create(
        {"study_id": int, "position": int, "arm": str, "seed": int, "run_id": int},
        pk=("study_id", "position"),
        foreign_keys=[("study_id", "studies", "id"), ("run_id", "runs", "id")],
        not_null={"arm", "seed", "run_id"},
    )
    db.table("study_runs").create_index(["study_id", "arm", "seed"], unique=True)
    db.table("stages").add_column("input_key", str)
    db.table("stages").add_column("reused_from", int)
    db.table("stages").create_index(["input_key"])
    db.table("traces").add_column("copied_from", int)


def _v4_teacher_reuse(db: sqlite_utils.Database) -> None:
    """Version 4: teacher answers a run used without paying for them.

    ``teacher_calls`` holds what was sent and paid for. ``teacher_reuse`` holds one row per
    answer a run took from the cache instead (the answer's ``teacher_calls`` row, paid by
    another run, or outside any run), and per answer of a stage a study copied from another
    run. A run's teacher *used* is its paid rows plus these; its *paid* is its rows alone.
    Each answer counts once per run (primary key), and never when the run paid for it itself.
    """
    db.table("teacher_reuse").create(
        {"run_id": int, "call_id": int, "stage": str, "created_at": str},
        pk=("run_id", "call_id"),
        foreign_keys=[("run_id", "runs", "id"), ("call_id", "teacher_calls", "id")],
        not_null={"stage"},
    )


def _v5_labels_and_slices(db: sqlite_utils.Database) -> None:
    """Labels by hand and saved query slices (issue 19).

    ``step_labels`` holds a person's mark on a step (correct / wrong / unsure), one row per
    step and author (a new mark by the same author replaces theirs), with a note, an optional
    correct step the person typed (``correction``, the chosen side of a DPO pair) and the
    time. The teacher's verdict stays in ``steps.verdict``: a human label never overwrites it.
    ``slices`` are named Traces-view queries. The indexes serve the query bar on 100k traces
    (bench/query_latency.py): verdicts of traces and steps, labels by trace.
    """
    db.table("step_labels").create(
        {"id": int, "step_id": int, "trace_id": int, "label": str, "author": str, "note": str,
         "correction": str, "created_at": str},
        pk="id", foreign_keys=[("step_id", "steps", "id"), ("trace_id", "traces", "id")],
        not_null={"step_id", "trace_id", "label", "author", "created_at"},
    )
    db.table("step_labels").create_index(["step_id", "author"], unique=True)
    db.table("step_labels").create_index(["trace_id"])
    db.table("slices").create(
        {"id": int, "name": str, "query": str, "created_at": str},
        pk="id", not_null={"name", "query"},
    )
    db.table("slices").create_index(["name"], unique=True)
    db.table("traces").create_index(["verdict"])
    db.table("steps").create_index(["verdict", "trace_id"])


def _v6_teacher_batches(db: sqlite_utils.Database) -> None:
    """Version 6: teacher batch jobs (OpenAI Batch API, issue 20; engine/teacher/batch.py).

    One row per batch a stage submitted: the endpoint, the batch and input file ids the
    endpoint gave, the custom ids sent (one per request: the cache key of its first sample),
    its last known status and, once its answers are in ``teacher_calls``, ``mapped`` = 1
    (written in the same transaction as those answers). A restarted stage finds its open
    batch here by ``batch_key`` (a hash of the custom ids) and polls it instead of
    submitting again.
    """
    db.table("teacher_batches").create(
        {
            "id": int, "run_id": int, "stage": str, "batch_key": str, "endpoint": str,
            "batch_id": str, "input_file_id": str, "status": str, "custom_ids": str,
            "n_requests": int, "output_file_id": str, "error_file_id": str, "counts": str,
            "mapped": int, "created_at": str, "finished_at": str, "error": str,
        },
        pk="id", foreign_keys=[("run_id", "runs", "id")],
        not_null={"batch_key", "endpoint", "batch_id", "status"}, defaults={"mapped": 0},
    )
    db.table("teacher_batches").create_index(["run_id", "stage", "batch_key"])


MIGRATIONS: list[Migration] = [
    _v1_core, _v2_units_and_flags, _v3_studies_and_reuse,
    _v4_teacher_reuse,
    _v5_labels_and_slices,
    _v6_teacher_batches,
]
LATEST_VERSION = len(MIGRATIONS)


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int = LATEST_VERSION) -> list[int]:
    """Bring the database up to ``target``, one committed step per version; returns steps run."""
    current = user_version(conn)
    if current > LATEST_VERSION:
        raise RuntimeError(
            f"This database has schema version {current}, newer than this Distillab "
            f"understands ({LATEST_VERSION}). Upgrade Distillab to open it."
        )
    db = sqlite_utils.Database(conn)
    done: list[int] = []
    while current < target:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # read again under the write lock: another process (the GUI and a worker opening
            # a new project together) may have migrated since we looked
            current = user_version(conn)
            if current >= target:
                conn.execute("COMMIT")
                break
            MIGRATIONS[current](db)
            conn.execute(f"PRAGMA user_version = {current + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        current += 1
        done.append(current)
    return done
