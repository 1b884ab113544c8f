"""`distillab study ...` verbs on a real database, and the report: the Markdown has the
tables, every PNG is a real plot, the HTML is one file that needs nothing from outside."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from engine.cli import main
from engine.paths import RECIPES_DIR

from .conftest import smoke_recipe_text, write_jsonl

ACTIONS = ["run", "resume", "show", "report", "list", "validate"]

STUDY = """schema_version: 1
name: lab
description: noisy verifiers
base: base.yaml
seeds: [0, 1]
arms:
  - name: exact
  - name: noisy
    set: {stages.check.noise: 0.3}
  - name: noisier
    set: {stages.check.noise: 0.6}
comparisons:
  - metric: accuracy
    stage: check
    pairs: all
    cost_axes: [student_gen_tokens, wall_s, teacher_tokens]
    equal_budget: {axis: student_gen_tokens, tolerance: 0.05}
  - metric: metric:accuracy
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A completed 3 arms x 2 seeds study, run once through the CLI for all tests here."""
    import os

    tmp = tmp_path_factory.mktemp("study")
    rows = [{"question": f"What is {i} times 3?", "solution": f"{i} * 3 = {i * 3}\n#### {i * 3}",
             "answer": str(i * 3)} for i in range(24)]
    data = write_jsonl(tmp / "d.jsonl", rows)
    (tmp / "base.yaml").write_text(smoke_recipe_text(data))
    (tmp / "study.yaml").write_text(STUDY)
    db = tmp / "p.db"
    old = os.environ.get("DISTILLAB_HOME")
    os.environ["DISTILLAB_HOME"] = str(tmp / "home")
    try:
        assert main(["study", "run", str(tmp / "study.yaml"), "--db", str(db)]) == 0
    finally:
        if old is None:
            os.environ.pop("DISTILLAB_HOME", None)
        else:
            os.environ["DISTILLAB_HOME"] = old
    return db


@pytest.mark.parametrize("action", ACTIONS)
def test_every_study_action_has_help(action, capsys):
    with pytest.raises(SystemExit) as info:
        main(["study", action, "--help"])
    assert info.value.code == 0 and "--db" in capsys.readouterr().out


def test_study_list_show_validate_and_resume(project, capsys, tmp_path, monkeypatch):
    from engine import cli

    monkeypatch.setattr(cli.console, "width", 300)  # rich wraps at 80 columns off a terminal
    monkeypatch.setattr(cli.err_console, "width", 300)
    assert main(["study", "list", "--db", str(project)]) == 0
    out = capsys.readouterr().out
    assert "lab" in out and "completed" in out
    assert main(["study", "show", "1", "--db", str(project)]) == 0
    out = capsys.readouterr().out
    assert "stages computed 14, reused 4" in out  # echo computed per seed, copied twice each
    assert "echo (1)" in out and "echo (4)" in out
    assert "noisy − exact" in out and "McNemar exact" in out and "paired t over seeds" in out
    assert "wall time per stage" in out
    assert main(["study", "resume", "1", "--db", str(project)]) == 1
    assert "already completed" in capsys.readouterr().err
    assert main(["study", "show", "7", "--db", str(project)]) == 1
    assert "No study 7" in capsys.readouterr().err
    assert main(["study", "validate", str(RECIPES_DIR / "studies" / "smoke.yaml")]) == 0
    assert "3 arms x 3 seeds = 9 runs" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema_version: 1\nname: x\nbase: nope.yaml\narms: [{name: a}]\n")
    assert main(["study", "validate", str(bad)]) == 1
    assert "bad.yaml:3: base: recipe file not found" in capsys.readouterr().err


def _distinct_colours(path) -> int:
    from PIL import Image

    with Image.open(path) as im:
        small = im.convert("RGB").resize((140, 84))
        return len(set(small.get_flattened_data()))


def test_markdown_report_has_the_tables_and_real_plots(project, capsys):
    assert main(["study", "report", "1", "--db", str(project)]) == 0
    path = project.parent / "p-files" / "study-1" / "report.md"
    assert f"wrote {path}" in capsys.readouterr().out.replace("\n", "")
    text = path.read_text()
    for head in ("| arm | mean | 95% CI | items | seeds |",
                 "| b − a | difference | 95% CI | p | p (Holm) | sig. | wins/losses/ties | test |",
                 "| arm | student generation tokens | wall time (s) | teacher tokens (in + out) |",
                 "| arm | seed | run | status | reused stages (from run) |",
                 "| arm | student generation tokens | × median | within 5% |"):
        assert head in text
    assert "| noisy | 1 | 5 | completed | echo (run 4) |" in text
    assert "Shared work: 14 stages computed, 4 reused" in text
    assert "| arm | echo | check | summary |" in text  # wall time per stage
    assert "Not plotted (zero for every arm): teacher tokens (in + out)." in text
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(images) == 2 * 2 + 2 * 2  # per comparison: arms, diffs, 2 cost axes
    for name in images:
        png = path.parent / name
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert _distinct_colours(png) > 20, name


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]


def test_html_report_is_one_file_that_opens_offline(project, tmp_path):
    out = tmp_path / "elsewhere"
    assert main(["study", "report", "1", "--db", str(project), "--format", "html",
                 "--out", str(out)]) == 0
    html_text = (out / "report.html").read_text()
    parser = _Refs()
    parser.feed(html_text)
    assert parser.tags.count("img") == 8 and parser.tags.count("table") >= 8
    assert parser.refs and all(r.startswith("data:image/png;base64,") for r in parser.refs)
    assert "http://" not in html_text and "https://" not in html_text
    assert "McNemar exact" in html_text and "noisier − noisy" in html_text


def test_the_terminal_shows_one_bar_for_the_study_and_the_current_runs_stages(monkeypatch):
    from rich.console import Console

    from engine import cli
    from engine import events as ev
    from engine.studies.cli import StudyReporter

    monkeypatch.setattr(cli, "console", Console(record=True, width=120))
    runs = cli.ConsoleReporter()
    reporter = StudyReporter(runs)
    p = runs.progress
    reporter(ev.StudyStarted(0, 1, "lab", "p.db", 4, 1, True))
    study = reporter.study_task
    assert (p.tasks[study].total, p.tasks[study].completed) == (4, 1)
    reporter(ev.StudyProgress(2, 1, 1, 4, "noisy", 0))
    reporter(ev.RunStarted(2, "lab/noisy/seed0", "smoke", "p.db", ("echo", "check"), False))
    reporter(ev.StageStarted(2, "echo", 0, 2))
    reporter(ev.StageFinished(2, "echo", "reused", 0.0))
    reporter(ev.StageStarted(2, "check", 1, 2))
    reporter(ev.Progress(2, "check", 3, 10))
    reporter(ev.StudyProgress(3, 1, 2, 4, "exact", 1))
    reporter(ev.RunStarted(3, "lab/exact/seed1", "smoke", "p.db", ("echo", "check"), False))
    reporter(ev.StageStarted(3, "echo", 0, 2))
    shown = [t.description for t in p.tasks if t.visible]
    assert shown == ["study", "echo"]  # the last run's stage bars are gone
    assert p.tasks[study].completed == 2
    reporter(ev.StudyFinished(0, 1, "completed", "all 4 runs finished", 1.5))
    text = p.console.export_text()
    assert "study 1 (lab) resuming: 4 runs, 1 already complete" in text
    assert "run 2: arm noisy, seed 0 (2/4)" in text and "study 1 completed" in text
