"""A run's summary for the terminal (`distillab show`): stages, metrics, evaluations, cost."""

from __future__ import annotations

import re
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

        cost = store.query(
            "SELECT stage, COUNT(*), SUM(tokens_in), SUM(tokens_out), SUM(cost_usd) "
            "FROM teacher_calls WHERE run_id = ? GROUP BY stage ORDER BY MIN(id)", (run_id,))
        if cost:
            table = Table("stage", "calls", "tokens in", "tokens out", "USD", title="teacher cost")
            for row in cost:
                table.add_row(row[0] or "", str(row[1]), str(row[2] or 0), str(row[3] or 0),
                              f"{row[4] or 0:.4f}")
            table.add_row("total", str(sum(r[1] for r in cost)),
                          str(sum(r[2] or 0 for r in cost)), str(sum(r[3] or 0 for r in cost)),
                          f"{sum(r[4] or 0 for r in cost):.4f}")
            parts.append(table)
        counts = store.query("SELECT stage, role, COUNT(*) FROM traces WHERE run_id = ? "
                             "GROUP BY stage, role ORDER BY MIN(id)", (run_id,))
        if counts:
            parts.append("traces: " + ", ".join(f"{r[0]}/{r[1]} {r[2]}" for r in counts))
        for art in runs.artifacts(store, run_id):
            parts.append(f"artifact {art['kind']}: {art['path']} ({art['bytes']} bytes)")
    return Group(*parts)
