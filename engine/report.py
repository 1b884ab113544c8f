"""A run's summary for the terminal (`distillab show`): stages, metrics, evaluations, cost.

The teacher's cost is shown *used* and *paid*: answers served from the cache (or from a
stage a study copied) are used by the run but paid by whoever asked first. A run whose
teacher was a pool of servers (``teacher.endpoints``) also gets a table per server.
"""

from __future__ import annotations

import re
from pathlib import Path

from rich.console import Group, RenderableType
from rich.table import Table

from engine.metrics import wilson
from engine.store import Store, calls, runs


def run_report(db_path: str | Path, run_id: int) -> RenderableType:
    with Store(db_path) as store:
        run = runs.get_run(store, run_id)
        parts: list[RenderableType] = [
            f"[bold]run {run.id}[/bold] {run.name} · paradigm {run.paradigm} · "
            f"[bold]{run.shown_status}[/bold] · seed {run.seed} · created {run.created_at[:19]}"
        ]
        if run.error:
            parts.append(f"[yellow]{run.error}[/yellow]")
        stages = Table("stage", "status", "done", "seconds", title="stages")
        for s in runs.stages(store, run_id):
            stages.add_row(s.name, s.status, f"{s.done}/{s.total}", f"{s.seconds:.1f}")
        parts.append(stages)

        evals = store.query(
            "SELECT stage, COUNT(*) AS n, SUM(passed) AS ok FROM evaluations "
            "WHERE run_id = ? AND passed IS NOT NULL GROUP BY stage", (run_id,))
        if evals:
            table = Table("stage", "passed", "rate", "95% CI (Wilson)", title="evaluations")
            for row in evals:
                n, ok = int(row["n"]), int(row["ok"] or 0)
                low, high = wilson(ok, n)
                table.add_row(row["stage"], f"{ok}/{n}", f"{ok / n:.3f}",
                              f"{low:.3f} – {high:.3f}")
            parts.append(table)

        metrics = runs.latest_metrics(store, run_id)
        solve = sorted((int(name.split("@")[1]), value) for name, value in metrics.items()
                       if re.fullmatch(r"solve@\d+", name))
        if solve:
            per_item = metrics.get("programs_per_item")
            table = Table("k", "solve@k", "95% CI (bootstrap over items)",
                          title=f"solve@k (n = {per_item:g} programs per item)" if per_item
                          else "solve@k")
            for k, value in solve:
                ci_low = metrics.get(f"solve@{k}_ci_low")
                ci_high = metrics.get(f"solve@{k}_ci_high")
                ci = f"{ci_low:.3f} – {ci_high:.3f}" if ci_low is not None and ci_high is not None \
                    else ""
                table.add_row(str(k), f"{value:.3f}", ci)
            parts.append(table)
            grid = sorted(name for name in metrics if name.startswith("grid/"))
            if grid:
                parts.append("M x T grid: " + ", ".join(
                    f"{name.removeprefix('grid/')} {metrics[name]:.3f}" for name in grid))
        shown = {name for name in metrics if re.fullmatch(r"solve@\d+(_ci_low|_ci_high)?", name)
                 or name.startswith(("grid/", "curve/"))}
        rest = {name: value for name, value in metrics.items() if name not in shown}
        if rest:
            table = Table("metric", "value", title="metrics (latest)")
            for name, value in rest.items():
                table.add_row(name, f"{value:.4g}")
            parts.append(table)

        cost = calls.accounting_by_stage(store, run_id)
        if cost:
            parts.append(teacher_table(cost))
        servers = calls.by_endpoint(store, run_id)
        if len(servers) > 1:  # a pool (teacher.endpoints): what each server did
            parts.append(endpoint_table(servers))
        counts = store.query("SELECT stage, role, COUNT(*) FROM traces WHERE run_id = ? "
                             "GROUP BY stage, role ORDER BY MIN(id)", (run_id,))
        if counts:
            parts.append("traces: " + ", ".join(f"{r[0]}/{r[1]} {r[2]}" for r in counts))
        for art in runs.artifacts(store, run_id):
            parts.append(f"artifact {art['kind']}: {art['path']} ({art['bytes']} bytes)")
    return Group(*parts)


def teacher_table(by_stage: dict[str, calls.Accounting]) -> Table:
    """Teacher tokens and USD per stage and in total, used and paid."""
    table = Table("stage", "answers paid", "from cache", "failed", "tokens used", "tokens paid",
                  "USD used", "USD paid", title="teacher cost (used = paid + from cache)")
    rows = [*by_stage.items(), ("total", sum(by_stage.values(), calls.Accounting()))]
    for name, a in rows:
        table.add_row(name, str(a.answers_paid), str(a.answers_reused), str(a.failed_attempts),
                      f"{a.tokens_used:,}",
                      f"{a.tokens_paid:,}", f"{a.usd_used:.4f}", f"{a.usd_paid:.4f}")
    return table


def endpoint_table(servers: list[calls.EndpointFigures]) -> Table:
    """Per teacher server (a pool's, engine/teacher/pool.py): requests, failures, answers,
    tokens and mean latency."""
    table = Table("endpoint", "requests", "failed", "answers", "tokens", "mean latency s",
                  title="teacher endpoints")
    for f in servers:
        table.add_row(f.endpoint, str(f.requests), str(f.failures), str(f.answers),
                      f"{f.tokens:,}", f"{f.mean_latency_s:.3f}")
    return table
