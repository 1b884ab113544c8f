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

from engine.store import Store

COST_METRICS = {"cost/student_gen_tokens": "student_gen_tokens",
                "cost/student_score_tokens": "student_score_tokens",
                "cost/train_tokens": "train_tokens"}


def _marks(values: list[int]) -> str:
    return ",".join("?" * len(values))


def costs_of(store: Store, run_ids: list[int]) -> dict[int, dict[str, float]]:
    """Every cost axis of each run, read with three queries for all of them."""
    out = {r: {"teacher_tokens_in": 0.0, "teacher_tokens_out": 0.0, "teacher_usd": 0.0,
               "student_gen_tokens": 0.0, "student_score_tokens": 0.0, "train_tokens": 0.0,
               "wall_s": 0.0} for r in run_ids}
    if not run_ids:
        return out
    stages = store.query(f"SELECT run_id, name, seconds, reused_from FROM stages WHERE run_id "
                         f"IN ({_marks(run_ids)})", run_ids)
    sources = sorted({int(r[3]) for r in stages if r[3] is not None} | set(run_ids))
    seconds = {(int(r[0]), str(r[1])): float(r[2] or 0) for r in store.query(
        f"SELECT run_id, name, seconds FROM stages WHERE run_id IN ({_marks(sources)})", sources)}
    teacher = {(int(r[0]), str(r[1])): r[2:] for r in store.query(
        "SELECT run_id, stage, SUM(tokens_in), SUM(tokens_out), SUM(cost_usd) FROM "
        f"teacher_calls WHERE run_id IN ({_marks(sources)}) GROUP BY run_id, stage", sources)}
    for run_id, name, _, reused_from in stages:
        source = (int(reused_from) if reused_from is not None else int(run_id), str(name))
        cost = out[int(run_id)]
        cost["wall_s"] += seconds.get(source, 0.0)
        tokens_in, tokens_out, usd = teacher.get(source, (0, 0, 0))
        cost["teacher_tokens_in"] += float(tokens_in or 0)
        cost["teacher_tokens_out"] += float(tokens_out or 0)
        cost["teacher_usd"] += float(usd or 0)
    names = list(COST_METRICS)
    for run_id, name, total in store.query(
            f"SELECT run_id, name, SUM(value) FROM metrics WHERE run_id IN ({_marks(run_ids)}) "
            f"AND name IN ({','.join('?' * len(names))}) GROUP BY run_id, name",
            [*run_ids, *names]):
        out[int(run_id)][COST_METRICS[str(name)]] += float(total or 0)
    for cost in out.values():
        cost["teacher_tokens"] = cost["teacher_tokens_in"] + cost["teacher_tokens_out"]
        cost["compute_tokens"] = (cost["teacher_tokens"] + cost["student_gen_tokens"]
                                  + cost["student_score_tokens"] + cost["train_tokens"])
    return out


def stage_seconds(store: Store, run_ids: list[int]) -> dict[int, dict[str, float]]:
    """run -> stage -> seconds, a reused stage counting the run that computed it."""
    if not run_ids:
        return {}
    rows = store.query(
        "SELECT s.run_id, s.name, COALESCE(o.seconds, s.seconds) FROM stages s LEFT JOIN stages o "
        "ON o.run_id = s.reused_from AND o.name = s.name "
        f"WHERE s.run_id IN ({_marks(run_ids)}) ORDER BY s.run_id, s.position", run_ids)
    out: dict[int, dict[str, float]] = {}
    for run_id, name, seconds in rows:
        out.setdefault(int(run_id), {})[str(name)] = float(seconds or 0)
    return out


def run_costs(store: Store, run_id: int) -> dict[str, float]:
    """Every cost axis of one run."""
    return costs_of(store, [run_id])[run_id]
