"""`distillab study run | resume | show | report | list | validate`, kept beside the studies.

``engine.cli`` registers the ``study`` verb and hands over to ``run_study_verb``. The
terminal shows one progress bar for the whole study and the current run's stage bars.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table

from engine import events as ev


def add_study_verbs(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="study_verb", required=True, metavar="ACTION")

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--db", type=Path, default=argparse.SUPPRESS, help="project database")
        return p

    p = action("run", "Create a study's runs (arms x seeds) and run them.")
    p.add_argument("study", type=Path, help="study YAML file")
    p = action("resume", "Go on with a cancelled, stopped, failed or killed study.")
    p.add_argument("study_id", type=int)
    p = action("show", "A study's runs, reused stages, arms with intervals, paired differences, "
               "costs.")
    p.add_argument("study_id", type=int)
    p = action("report", "Write a study's report (tables and PNG plots) beside the database.")
    p.add_argument("study_id", type=int)
    p.add_argument("--format", choices=["md", "html"], default="md")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for the report (default: <db>-files/study-N/)")
    action("list", "List the studies in the project database.")
    p = action("validate", "Check study files (and every arm's recipe); list every problem.")
    p.add_argument("studies", type=Path, nargs="+")


def run_study_verb(args: argparse.Namespace, console: Any) -> int:
    from engine.cli import ConsoleReporter, _exit_code, err_console

    verb = args.study_verb
    if verb in ("run", "resume"):
        from engine.studies import runner

        with StudyReporter(ConsoleReporter()) as reporter:
            if verb == "run":
                from engine.studies.spec import load_study

                study_id, status = runner.run_study(load_study(args.study), args.db,
                                                    on_event=reporter)
            else:
                study_id = args.study_id
                status = runner.resume_study(study_id, args.db, on_event=reporter)
        console.print(f"Look at it: distillab study show {study_id} --db {args.db}")
        return _exit_code(status)
    if verb == "validate":
        from engine.studies.spec import StudyError, load_study

        failed = 0
        for path in args.studies:
            try:
                loaded = load_study(path)
            except StudyError as exc:
                failed += 1
                err_console.print(f"[red]invalid[/red] {exc.message}")
            else:
                console.print(f"[green]ok[/green] {path} ({len(loaded.study.arms)} arms x "
                              f"{len(loaded.study.seeds)} seeds = {len(loaded.runs)} runs)")
        return 1 if failed else 0
    from engine.store import Store, studies

    with Store(args.db) as store:
        if verb == "list":
            rows = studies.list_studies(store)
            table = Table("id", "name", "status", "runs", "created", title=str(args.db))
            for s in rows:
                n = len(studies.study_runs(store, s.id))
                table.add_row(str(s.id), s.name, s.shown_status, str(n), s.created_at[:19])
            console.print(table if rows else f"no studies yet in {args.db}")
            return 0
        from engine.studies.analysis import analyse

        analysis = analyse(store, args.study_id)
    if verb == "show":
        console.print(render_show(analysis))
        return 0
    from engine.studies.report import write_report

    path = write_report(args.db, analysis, args.format, args.out)
    console.print(f"wrote {path}")
    return 0


class StudyReporter:
    """Wraps the run reporter: a bar for the whole study (runs done of all), and only the
    current run's stage bars."""

    def __init__(self, runs: Any) -> None:
        self.runs = runs
        self.progress = runs.progress
        self.study_task: Any = None
        self.resume_command = ""  # Ctrl-C during a study: resume the study, not its run

    def __enter__(self) -> StudyReporter:
        self.runs.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self.runs.resume_command = self.resume_command or self.runs.resume_command
        self.runs.__exit__(kind, *exc)

    def __call__(self, event: ev.Event) -> None:
        p = self.progress
        if isinstance(event, ev.StudyStarted):
            self.resume_command = f"distillab study resume {event.study_id} --db {event.db_path}"
            verb = "resuming" if event.resumed else "started"
            p.console.print(f"study {event.study_id} ({event.name}) {verb}: {event.n_runs} "
                            f"runs, {event.done} already complete; database {event.db_path}")
            self.study_task = p.add_task("study", total=event.n_runs, completed=event.done)
        elif isinstance(event, ev.StudyProgress):
            if self.study_task is not None:
                p.update(self.study_task, completed=event.done, total=event.total)
            if event.arm:
                p.console.print(f"[bold]run {event.run_id}[/bold]: arm {event.arm}, seed "
                                f"{event.seed} ({event.done + 1}/{event.total})")
        elif isinstance(event, ev.RunStarted):
            for task in self.runs.tasks.values():  # the last run's stage bars
                p.update(task, visible=False)  # hidden, not removed: ids stay positions
            self.runs.tasks.clear()
            self.runs(event)
        elif isinstance(event, ev.StudyFinished):
            style = "green" if event.status == "completed" else "yellow"
            p.console.print(f"[{style}]study {event.study_id} {event.status}[/{style}] in "
                            f"{event.seconds:.1f} s: {event.message}")
        else:
            self.runs(event)


def _p(value: float) -> str:
    if math.isnan(value):
        return "—"
    return f"{value:.2g}" if value < 0.001 else f"{value:.3f}"


def render_show(a: Any) -> RenderableType:
    """`study show`: runs with their reused stages, then every comparison's tables."""
    from engine.studies.spec import AXES

    parts: list[RenderableType] = [
        f"[bold]study {a.study_id}[/bold] {a.name} · [bold]{a.status}[/bold] · "
        f"{len(a.arms)} arms x {len(a.study.seeds)} seeds"]
    if a.study.description:
        parts.append(a.study.description)
    if a.error:
        parts.append(f"[yellow]{a.error}[/yellow]")
    computed, reused = a.reuse_counts()
    runs = Table("arm", "seed", "run", "status", "reused stages (from run)",
                 title=f"runs · stages computed {computed}, reused {reused}")
    for r in a.runs:
        runs.add_row(r.arm, str(r.seed), str(r.run_id), r.status,
                     ", ".join(f"{s} ({src})" for s, src in r.reused) or "—")
    parts.append(runs)
    for c in a.comparisons:
        arms = Table("arm", "mean", f"{c.spec.confidence:.0%} CI", "items", "seeds",
                     title=f"{c.title}: arms")
        for r in c.arms:
            e = r.estimate
            arms.add_row(r.arm, f"{e.mean:.3f}" if not math.isnan(e.mean) else "—",
                         f"{e.low:.3f} – {e.high:.3f}"
                         if not math.isnan(e.low) else "—", str(e.n), str(e.seeds))
        parts.append(arms)
        if c.pairs:
            diffs = Table("b − a", "difference", f"{c.spec.confidence:.0%} CI", "p", "p (Holm)",
                          "", "wins/losses/ties", "test", title=f"{c.title}: paired differences")
            for p in c.pairs:
                d = p.result.diff
                diffs.add_row(f"{p.b} − {p.a}", f"{d.mean:+.3f}" if d.n else "—",
                              f"{d.low:+.3f} – {d.high:+.3f}" if not math.isnan(d.low) else "—",
                              _p(p.result.p), _p(p.p_holm), "*" if p.significant else "",
                              f"{p.result.wins}/{p.result.losses}/{p.result.ties}",
                              p.result.test)
            parts.append(diffs)
        if c.budget:
            axis = c.spec.equal_budget.axis if c.spec.equal_budget else ""
            parts.append("equal budget on " + axis + ": " + ", ".join(
                f"{b.arm} {b.value:.4g} ({b.ratio:.2f}x{'' if b.ok else ' ✗'})" for b in c.budget))
    axes = sorted({ax for c in a.study.comparisons for ax in c.cost_axes}, key=list(AXES).index)
    if axes:
        cost = Table("arm", *[AXES[ax] for ax in axes], title="costs per run (mean over seeds)")
        for arm in a.arms:
            cost.add_row(arm, *[f"{a.costs[arm][ax].mean:.4g}"
                                if not math.isnan(a.costs[arm][ax].mean) else "—" for ax in axes])
        parts.append(cost)
    stages = list(dict.fromkeys(st for per in a.stage_seconds.values() for st in per))
    if stages:
        wall = Table("arm", *stages, title="wall time per stage (s, mean over seeds; reused "
                     "stages count the run that computed them)")
        for arm in a.arms:
            per = a.stage_seconds.get(arm, {})
            wall.add_row(arm, *[f"{per[st].mean:.3g}" if st in per else "—" for st in stages])
        parts.append(wall)
    for c in a.correlations:
        k = c.corr
        parts.append(f"correlation {c.spec.name} ({c.arm}): {k.method} {k.rho:.3f} "
                     f"[{k.low:.3f}, {k.high:.3f}], p {_p(k.p)}, n {k.n}")
    return Group(*parts)
