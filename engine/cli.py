"""The `distillab` command: run, resume, validate, runs, show, export, demo, recipes, study,
teacher, lab, doctor, install-desktop, gui.

Every verb is a thin layer over engine functions that the GUI calls too. Errors a user
can fix print one clear message (exit code 1), never a traceback. Exit codes: 0 done,
1 error, 2 usage, 3 run stopped or cancelled (resumable).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from engine import events as ev
from engine.errors import DistillabError, Interrupted
from engine.paths import RECIPES_DIR, default_db

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


class ConsoleReporter:
    """Turns run events into progress bars and log lines on the terminal."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(TextColumn("{task.description:<12}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("eta"),
                                 TimeRemainingColumn(), console=console)
        self.tasks: dict[str, Any] = {}
        self.final: ev.Event | None = None
        self.resume_command = ""  # what Ctrl-C's message tells the user to type

    def __enter__(self) -> ConsoleReporter:
        self.progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self.progress.stop()
        if kind is KeyboardInterrupt and self.resume_command:
            raise Interrupted(self.resume_command) from None

    def __call__(self, event: ev.Event) -> None:
        p = self.progress
        if isinstance(event, ev.RunStarted):
            verb = "resuming" if event.resumed else "started"
            p.console.print(f"run {event.run_id} ({event.name}, {event.paradigm}) {verb}; "
                            f"database {event.db_path}")
            self.resume_command = f"distillab resume {event.run_id} --db {event.db_path}"
        elif isinstance(event, ev.StageStarted):
            self.tasks[event.stage] = p.add_task(event.stage, total=None)
        elif isinstance(event, ev.Progress) and event.stage in self.tasks:
            p.update(self.tasks[event.stage], completed=event.done, total=event.total or None)
        elif isinstance(event, ev.StageFinished) and event.stage in self.tasks:
            task = self.tasks[event.stage]
            total = p.tasks[task].total or 1
            p.update(task, completed=total, total=total)
        elif isinstance(event, ev.Log):
            if event.level == "error":
                p.console.print(f"[red]{event.message}[/red]")
            else:
                p.console.print(f"[dim]{event.stage or 'run'}:[/dim] {event.message}")
        elif isinstance(event, ev.JobFailed):
            self.final = event
            err_console.print(f"[red]error:[/red] {event.error}")
            if event.hint:
                err_console.print(f"  fix: {event.hint}")
        elif isinstance(event, ev.JobFinished):
            self.final = event
            style = "green" if event.status == "completed" else "yellow"
            p.console.print(f"[{style}]run {event.run_id} {event.status}[/{style}] in "
                            f"{event.seconds:.1f} s: {event.message}")


def _exit_code(status: str) -> int:
    return {"completed": 0, "failed": 1}.get(status, 3)


def cmd_run(args: argparse.Namespace) -> int:
    from engine import runner
    from engine.validate import load_recipe

    loaded = load_recipe(args.recipe, args.set)
    with ConsoleReporter() as reporter:
        run_id, status = runner.run_recipe(loaded, args.db, on_event=reporter)
    console.print(f"Look at it: distillab show {run_id} --db {args.db}")
    return _exit_code(status)


def cmd_resume(args: argparse.Namespace) -> int:
    from engine import runner

    with ConsoleReporter() as reporter:
        status = runner.resume(args.run_id, args.db, on_event=reporter)
    return _exit_code(status)


def cmd_validate(args: argparse.Namespace) -> int:
    from engine.recipes import RecipeError
    from engine.validate import load_recipe

    failed = 0
    for path in args.recipes:
        try:
            loaded = load_recipe(path)
        except RecipeError as exc:
            failed += 1
            err_console.print(f"[red]invalid[/red] {exc}")
        else:
            console.print(f"[green]ok[/green] {path} ({loaded.recipe.paradigm}, "
                          f"stages: {', '.join(loaded.stage_params)})")
    return 1 if failed else 0


def cmd_runs(args: argparse.Namespace) -> int:
    from engine.store import Store, runs

    with Store(args.db) as store:
        rows = runs.list_runs(store)
        if args.json:
            print(json.dumps([{"id": r.id, "name": r.name, "paradigm": r.paradigm,
                               "status": r.shown_status, "created_at": r.created_at,
                               "finished_at": r.finished_at} for r in rows], indent=2))
            return 0
        table = Table("id", "name", "paradigm", "status", "created", title=str(args.db))
        for r in rows:
            table.add_row(str(r.id), r.name, r.paradigm, r.shown_status, r.created_at[:19])
        console.print(table if rows else f"no runs yet in {args.db}")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    from engine.report import run_report

    console.print(run_report(args.db, args.run_id))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    if args.what == "labels":
        from engine.label_export import export_labels

        if args.format != "jsonl":
            raise DistillabError("labels are exported as JSONL only", "drop --format parquet")
        done = export_labels(args.db, args.run_id, args.out)
        for kind, path in done.paths.items():
            console.print(f"{kind}: {done.rows[kind]} rows -> {path}")
        for why, n in done.skipped.items():
            console.print(f"skipped {n}: {why}")
        return 0
    if args.what == "training":
        from engine.cluster import export_training

        if not args.stage:
            raise DistillabError("--what training needs --stage (the training stage to "
                                 "export)", f"e.g. distillab export {args.run_id} --what "
                                 "training --stage train")
        folder = export_training(args.db, args.run_id, args.stage, args.out,
                                 log=lambda m: console.print(m, markup=False))
        console.print(f"wrote {folder}: train.jsonl, config.json, accelerate.yaml, launch.sh, "
                      f"train_trl.py\nrun it there: bash {folder}/launch.sh; then: distillab "
                      f"import-adapter {args.run_id} PATH/output/adapter --stage {args.stage}")
        return 0
    from engine.export import export_run

    path = export_run(args.db, args.run_id, args.format, args.out, args.what)
    console.print(f"wrote {path}")
    return 0


def cmd_import_adapter(args: argparse.Namespace) -> int:
    from engine.cluster import import_adapter

    dest = import_adapter(args.db, args.run_id, args.path, args.stage)
    console.print(f"adapter imported to {dest}; `distillab resume {args.run_id}` evaluates it")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from engine import runner
    from engine.validate import load_recipe

    if args.paradigm:  # a paradigm's own demo: recipes/<name>-demo.yaml
        recipe = RECIPES_DIR / f"{args.paradigm}-demo.yaml"
        if not recipe.is_file():
            known = sorted(p.name.removesuffix("-demo.yaml")
                           for p in RECIPES_DIR.glob("*-demo.yaml"))
            raise DistillabError(f"no demo for {args.paradigm!r} ({recipe} does not exist)",
                                 f"use one of: {', '.join(known)}")
    else:
        recipe = args.recipe or RECIPES_DIR / "cot-demo.yaml"
    loaded = load_recipe(recipe, args.set)
    console.print(f"Distillab demo: {recipe}\n" + (
        "Explain-based distillation on the bundled problems, with the embedded "
        "SmolLM2-135M as teacher, student and coder (a few minutes on 2 CPU cores; "
        "a 135M model solves little, but every stage is real)."
        if recipe.name == "explain-demo.yaml" else loaded.recipe.description))
    with ConsoleReporter() as reporter:
        run_id, status = runner.run_recipe(loaded, args.db, on_event=reporter)
    from engine.report import run_report

    console.print(run_report(args.db, run_id))
    db = Path(args.db).resolve()
    console.print(f"The database is {db}\n"
                  f"Look at the traces: distillab gui --db {db}   (Traces view)\n"
                  f"             or:    distillab export {run_id} --db {db}   or   sqlite3 {db}")
    lift = _lift(db, run_id)
    if lift is not None:  # demos that measure before and after end on the lift
        console.print(f"lab_lift: {lift:.1f}")
    return _exit_code(status)


def _lift(db: Path, run_id: int) -> float | None:
    """The run's accuracy lift in points (after - before training), if it measured one."""
    from engine.store import Store, runs

    with Store(db) as store:
        return runs.latest_metrics(store, run_id).get("lift_points")


def cmd_study(args: argparse.Namespace) -> int:
    from engine.studies.cli import run_study_verb

    return run_study_verb(args, console)


def cmd_lab(args: argparse.Namespace) -> int:
    from engine.lab.cli import run_lab_verb

    return run_lab_verb(args, console)


def cmd_gui(args: argparse.Namespace) -> int:
    """The desktop app runs as its own program (`python -m gui.app`): the engine never
    imports Qt, and the window's process holds no model code."""
    import subprocess

    # without --db the app picks the project: $DISTILLAB_DB, else distillab.db in the data
    # folder chosen in its Settings, else the default database
    command = [sys.executable, "-m", "gui.app"]
    if args.db_given:
        command += ["--db", str(args.db)]
    if args.quit_after_ms is not None:
        command += ["--quit-after-ms", str(args.quit_after_ms)]
    return subprocess.call(command)


def cmd_recipes(args: argparse.Namespace) -> int:
    from engine.paths import RECIPES_DIR
    from engine.shipped import copy_recipe, shipped_recipes

    if args.action == "copy":
        if not args.name or args.dest is None:
            raise DistillabError("`distillab recipes copy` needs a recipe name and a folder",
                                 "e.g. distillab recipes copy cot-demo ./my-experiment")
        copied = copy_recipe(args.name, args.dest, overwrite=args.force)
        console.print(f"wrote {copied.recipe} with {len(copied.files) - 1} prompt and data "
                      f"file(s); it validates.\nEdit it, then: distillab run {copied.recipe}")
        return 0
    if args.action is not None:
        raise DistillabError(f"unknown recipes action {args.action!r}", "use: recipes, or "
                             "recipes copy NAME DIR")
    table = Table(title=f"Shipped recipes ({RECIPES_DIR})", title_justify="left")
    for column in ("name", "paradigm", "description"):
        table.add_column(column, overflow="fold")
    for recipe in shipped_recipes():
        table.add_row(recipe.name, recipe.paradigm, recipe.description)
    console.print(table)
    console.print("Studies: " + str(RECIPES_DIR / "studies") + "\n"
                  "An editable copy with its prompts: distillab recipes copy NAME DIR")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from engine.doctor import run_checks, summary

    checks = run_checks()
    if args.json:
        print(json.dumps([c.__dict__ for c in checks], indent=1))
        return 0
    from rich import box

    marks = {"ok": "[green]ok[/green]", "warn": "[yellow]warn[/yellow]", "missing": "[red]no[/red]"}
    table = Table(box=box.SIMPLE, show_header=False, pad_edge=False)
    table.add_column("", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("", overflow="fold")
    for check in checks:
        fix = f"\n[dim]fix:[/dim] {check.fix}" if check.fix else ""
        table.add_row(marks[check.status], check.name, check.detail + fix)
    console.print(table)
    console.print(summary(checks))
    return 0


def cmd_install_desktop(args: argparse.Namespace) -> int:
    from engine.desktop import install_desktop

    written = install_desktop()
    console.print(f"wrote {written.entry}\nwrote {written.icon}\nExec: {written.exec_line}\n"
                  "Distillab is in your applications menu (log out and in if it does not show).")
    return 0


def cmd_teacher(args: argparse.Namespace) -> int:
    from engine.teacher.cli import run_teacher_verb

    return run_teacher_verb(args, console)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="distillab", description=(
        "Distillab: reasoning-distillation experiments on one workstation."))
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    def verb(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--db", type=Path, default=None,
                       help=f"project database (default: $DISTILLAB_DB or {default_db()})")
        return p

    p = verb("run", "Run a recipe from the start.")
    p.add_argument("recipe", type=Path, help="recipe YAML file")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe value, e.g. --set dataset.limit=20 "
                        "--set teacher.model=gpt-4o (repeatable; values are YAML)")
    p.set_defaults(func=cmd_run)
    p = verb("resume", "Go on with a stopped, failed or killed run from its last finished unit.")
    p.add_argument("run_id", type=int)
    p.set_defaults(func=cmd_resume)
    p = verb("validate", "Check recipes and list every problem with its line and fix.")
    p.add_argument("recipes", type=Path, nargs="+")
    p.set_defaults(func=cmd_validate)
    p = verb("runs", "List the runs in the project database.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_runs)
    p = verb("show", "Show a run: stages, metrics, evaluations, cost, files.")
    p.add_argument("run_id", type=int)
    p.set_defaults(func=cmd_show)
    p = verb("export", "Export a run's traces (with steps), pairs or evaluations; or its "
                       "human step labels as training data (--what labels).")
    p.add_argument("run_id", type=int)
    p.add_argument("--format", choices=["jsonl", "parquet"], default="jsonl")
    p.add_argument("--what", choices=["traces", "pairs", "evaluations", "teacher", "labels",
                                      "training"],
                   default="traces",
                   help="teacher: tokens and USD used and paid, per stage; labels: three JSONL "
                        "files, run-N-labels-{prm,dpo,sft}.jsonl (PRM800K-style step ratings, "
                        "DPO pairs at the first wrong step, SFT rows of all-correct chains); "
                        "training: a folder to train --stage on a cluster with TRL/accelerate "
                        "(rows, config, launch.sh; docs/cluster.md)")
    p.add_argument("--stage", default=None, help="with --what training: the training stage")
    p.add_argument("--out", type=Path, default=None,
                   help="output file (for labels and training: a folder; default: beside "
                        "the db)")
    p.set_defaults(func=cmd_export)
    p = verb("import-adapter", "Bring a PEFT adapter trained outside the lab (e.g. from "
                               "`export --what training`) back as a run's trained adapter.")
    p.add_argument("run_id", type=int)
    p.add_argument("path", type=Path, help="the adapter folder (adapter_config.json and "
                                           "adapter_model.safetensors)")
    p.add_argument("--stage", default=None, help="the training stage it replaces (default: "
                                                 "the exported one, or train)")
    p.set_defaults(func=cmd_import_adapter)
    p = verb("demo", "Run the demo recipe on the bundled data and the embedded model.")
    p.add_argument("paradigm", nargs="?", default=None,
                   help="run this paradigm's demo (recipes/<name>-demo.yaml, e.g. "
                        "explain, supercorrect); default: chain-of-thought distillation on "
                        "the lab task, before and after training (recipes/cot-demo.yaml)")
    p.add_argument("--recipe", type=Path, default=None,
                   help="another recipe to run as the demo (default: recipes/cot-demo.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a recipe value (as for `run`)")
    p.set_defaults(func=cmd_demo)
    p = verb("recipes", "List the shipped recipes, or copy one with its prompts to edit.")
    p.add_argument("action", nargs="?", choices=["copy"], default=None,
                   help="copy NAME DIR: an editable copy of a shipped recipe, its prompts and "
                        "its bundled data")
    p.add_argument("name", nargs="?", default=None, help="recipe name, e.g. cot-demo")
    p.add_argument("dest", nargs="?", type=Path, default=None, help="folder to copy into")
    p.add_argument("--force", action="store_true", help="overwrite files already there")
    p.set_defaults(func=cmd_recipes)
    p = verb("doctor", "Check this machine: Python, torch build, CUDA and GPU memory, 4-bit, "
                       "llama.cpp, disk, RAM; says what to install for what does not work.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_doctor)
    p = verb("install-desktop", "Add Distillab to your applications menu (Linux: a "
                                "freedesktop entry and icon for the current user).")
    p.set_defaults(func=cmd_install_desktop)
    p = verb("study", "Studies: arms x seeds as one experiment, paired statistics, reports.")
    from engine.studies.cli import add_study_verbs

    add_study_verbs(p)
    p.set_defaults(func=cmd_study)
    p = verb("teacher", "Teacher endpoints: check one, raise a run's budget, store a key.")
    from engine.teacher.cli import add_teacher_verbs

    add_teacher_verbs(p)
    p.set_defaults(func=cmd_teacher)
    p = verb("lab", "The controlled lab: write a synthetic data set, or run the scripted "
                    "teacher alone (docs/lab.md).")
    from engine.lab.cli import add_lab_verbs

    add_lab_verbs(p)
    p.set_defaults(func=cmd_lab)
    p = verb("gui", "Open the desktop app.")
    p.add_argument("--quit-after-ms", type=int, default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_gui)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.db_given = args.db is not None  # the GUI's own default follows its Settings
    if args.db is None:
        args.db = default_db()
    try:
        code: int = args.func(args)
    except DistillabError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        if exc.hint:
            err_console.print(f"  fix: {exc.hint}")
        return 1
    except KeyError as exc:  # lookups of runs/traces by id say what was missing
        err_console.print(f"[red]error:[/red] {exc.args[0]}")
        return 1
    except KeyboardInterrupt as exc:  # Interrupted names the run or study
        command = getattr(exc, "resume_command", "") or "distillab resume RUN_ID"
        err_console.print(f"interrupted; `{command}` goes on from the last finished unit",
                          soft_wrap=True)  # one line, to copy
        return 3
    return code


if __name__ == "__main__":
    sys.exit(main())
