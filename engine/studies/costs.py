"""What one run spent, on every cost axis of a study (see ``spec.AXES``).

* teacher tokens in/out and USD: the run's rows in ``teacher_calls`` (calls actually made;
  answers served from the cache cost nothing);
* student generation, student scoring and training tokens: the metrics
  ``cost/student_gen_tokens``, ``cost/student_score_tokens`` and ``cost/train_tokens`` that
  stages record (the convention in the README: each value is what one piece of work
  spent, so a run's cost is the sum of all of them, over all its stages);
* wall time: the stages' seconds.

A stage copied from another run (shared work) counts what it cost the run that computed
it: the method needs that work whether or not this run did it again. Its teacher calls
and seconds are read from that run; its cost metrics were copied with it.
"""

from __future__ import annotations

from engine.store import Store, runs

COST_METRICS = {"cost/student_gen_tokens": "student_gen_tokens",
                "cost/student_score_tokens": "student_score_tokens",
                "cost/train_tokens": "train_tokens"}


def run_costs(store: Store, run_id: int) -> dict[str, float]:
    """Every cost axis of one run."""
    out = {"teacher_tokens_in": 0.0, "teacher_tokens_out": 0.0, "teacher_usd": 0.0,
           "student_gen_tokens": 0.0, "student_score_tokens": 0.0, "train_tokens": 0.0,
           "wall_s": 0.0}
    seconds: dict[tuple[int, str], float] = {}
    for stage in runs.stages(store, run_id):
        source = stage.reused_from or run_id
        if stage.reused_from is not None:
            if (source, stage.name) not in seconds:
                seconds.update({(source, s.name): s.seconds for s in runs.stages(store, source)})
            out["wall_s"] += seconds.get((source, stage.name), 0.0)
        else:
            out["wall_s"] += stage.seconds
        row = store.one("SELECT SUM(tokens_in), SUM(tokens_out), SUM(cost_usd) FROM "
                        "teacher_calls WHERE run_id = ? AND stage = ?", (source, stage.name))
        if row is not None:
            out["teacher_tokens_in"] += float(row[0] or 0)
            out["teacher_tokens_out"] += float(row[1] or 0)
            out["teacher_usd"] += float(row[2] or 0)
    marks = ",".join("?" * len(COST_METRICS))
    for name, total in store.query(
            f"SELECT name, SUM(value) FROM metrics WHERE run_id = ? AND name IN ({marks}) "
            "GROUP BY name", [run_id, *COST_METRICS]):
        out[COST_METRICS[str(name)]] += float(total or 0)
    out["teacher_tokens"] = out["teacher_tokens_in"] + out["teacher_tokens_out"]
    out["compute_tokens"] = (out["teacher_tokens"] + out["student_gen_tokens"]
                             + out["student_score_tokens"] + out["train_tokens"])
    return out
