"""A run's summary for the terminal (`distillab show`): stages, metrics, evaluations, cost."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group, RenderableType
from rich.table import Table

from engine.metrics import wilson
from engine.store import Store, runs


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
        if metrics:
            table = Table("metric", "value", title="metrics (latest)")
            for name, value in metrics.items():
                table.add_row(name, f"{value:.4g}")
            parts.append(table)

        cost = store.one(
            "SELECT COUNT(*), SUM(tokens_in), SUM(tokens_out), SUM(cost_usd) FROM teacher_calls "
            "WHERE run_id = ?", (run_id,))
        if cost and cost[0]:
            parts.append(f"teacher: {cost[0]} calls, {cost[1] or 0} tokens in, "
                         f"{cost[2] or 0} tokens out, ${cost[3] or 0:.4f}")
        counts = store.query("SELECT stage, role, COUNT(*) FROM traces WHERE run_id = ? "
                             "GROUP BY stage, role ORDER BY MIN(id)", (run_id,))
        if counts:
            parts.append("traces: " + ", ".join(f"{r[0]}/{r[1]} {r[2]}" for r in counts))
        for art in runs.artifacts(store, run_id):
            parts.append(f"artifact {art['kind']}: {art['path']} ({art['bytes']} bytes)")
    return Group(*parts)
