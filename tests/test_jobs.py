"""Jobs in a worker process (spawn): events over a queue, cancel, and a crash that is reported."""

from __future__ import annotations

import time

import pytest

from engine import events as ev
from engine.jobs import Job, JobSpec
from engine.store import Store, runs

from .conftest import smoke_recipe_text, write_jsonl

pytestmark = pytest.mark.slow


def _collect(job: Job, until, timeout=60.0) -> list[ev.Event]:
    seen: list[ev.Event] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen += job.events(timeout=0.1)
        if until(seen):
            return seen
    raise AssertionError(f"timed out; saw {[type(e).__name__ for e in seen]}")


def test_worker_runs_a_recipe_and_sends_events(tmp_path, db_path, math_rows):
    data = write_jsonl(tmp_path / "d.jsonl", math_rows)
    job = Job(JobSpec(str(db_path), smoke_recipe_text(data)))
    seen = _collect(job, lambda s: any(isinstance(e, ev.JobFinished) for e in s))
    job.join(10)
    assert next(e for e in seen if isinstance(e, ev.JobFinished)).status == "completed"
    assert job.run_id == 1 and not job.alive
    assert sum(isinstance(e, ev.TraceStored) for e in seen) == 10


def test_cancel_then_resume_in_a_worker(tmp_path, db_path, math_rows):
    data = write_jsonl(tmp_path / "d.jsonl", math_rows)
    job = Job(JobSpec(str(db_path), smoke_recipe_text(data, echo={"delay_s": 0.2})))
    _collect(job, lambda s: sum(isinstance(e, ev.TraceStored) for e in s) >= 2)
    job.cancel()
    seen = _collect(job, lambda s: any(isinstance(e, ev.JobFinished) for e in s))
    assert next(e for e in seen if isinstance(e, ev.JobFinished)).status == "cancelled"
    job.join(10)
    again = Job(JobSpec(str(db_path), resume_run_id=1))
    seen = _collect(again, lambda s: any(isinstance(e, ev.JobFinished) for e in s))
    assert next(e for e in seen if isinstance(e, ev.JobFinished)).status == "completed"
    again.join(10)


def test_a_killed_worker_is_reported_and_the_caller_survives(tmp_path, db_path, math_rows):
    data = write_jsonl(tmp_path / "d.jsonl", math_rows)
    job = Job(JobSpec(str(db_path), smoke_recipe_text(data, echo={"delay_s": 0.2})))
    _collect(job, lambda s: any(isinstance(e, ev.TraceStored) for e in s))
    job.kill()
    seen = _collect(job, lambda s: any(isinstance(e, ev.JobFailed) for e in s))
    failed = next(e for e in seen if isinstance(e, ev.JobFailed))
    assert "killed by signal 9" in failed.error and "Resume" in failed.hint
    with Store(db_path) as store:
        assert runs.get_run(store, 1).shown_status == "interrupted"


def test_a_bad_recipe_in_a_worker_is_one_failed_event(db_path):
    job = Job(JobSpec(str(db_path), "schema_version: 1\nname: x\nparadigm: nope\n"))
    seen = _collect(job, lambda s: any(isinstance(e, ev.JobFailed) for e in s))
    assert "problems in the recipe" in seen[-1].error
