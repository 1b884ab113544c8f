"""A study's report: Markdown or HTML with tables and PNG plots, beside the database.

``write_report`` writes ``report.md`` (plots as PNG files next to it) or ``report.html``
(the same plots embedded, so the one file opens offline anywhere) into
``<db>-files/study-N/``. The document is built once as a list of blocks (heading, text,
table, image) and rendered either way.
"""

from __future__ import annotations

import base64
import html
import math
import re
from dataclasses import dataclass
from pathlib import Path

from engine.studies import plots
from engine.studies.analysis import ComparisonResult, StudyAnalysis
from engine.studies.spec import AXES

METHOD = (
    "Each arm runs once per seed; the seed also fixes the data split, so two arms of one seed "
    "are evaluated on the same items. An item's value is its pass rate over its samples "
    "(accuracy), its P_i = 1 − C(n−c, k)/C(n, k) (solve@k / pass@k) or its mean score. "
    "An arm's mean is the mean over seeds of the mean over items; its interval is a two-stage "
    "percentile bootstrap (seeds resampled, then items within each seed). A pair of arms is "
    "compared on the same (seed, item) pairs: the difference gets the same bootstrap on the "
    "per-pair differences; the p-value is McNemar's exact test when every outcome is "
    "pass/fail, else a sign-flip permutation test of the mean difference; p (Holm) adjusts "
    "for the comparison's several pairs, and * marks p (Holm) below 1 − confidence. "
    "Run-level metrics (metric:NAME) use a t interval over seeds and the paired t-test. "
    "Costs are per run, mean over seeds with a t interval; a stage reused from another run "
    "counts what it cost the run that computed it.")


@dataclass(frozen=True)
class Block:
    kind: str  # heading, text, table, image
    text: str = ""
    rows: tuple[tuple[str, ...], ...] = ()  # table: header first
    path: Path | None = None
    level: int = 2


def _num(value: float, fmt: str = ".3f") -> str:
    return "—" if math.isnan(value) else format(value, fmt)


def _ci(low: float, high: float, fmt: str = ".3f") -> str:
    return "—" if math.isnan(low) else f"{format(low, fmt)} – {format(high, fmt)}"


def _p(value: float) -> str:
    if math.isnan(value):
        return "—"
    return f"{value:.2g}" if value < 0.001 else f"{value:.3f}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "comparison"


def _comparison(a: StudyAnalysis, c: ComparisonResult, out: Path, n: int) -> list[Block]:
    slug = f"{n}-{_slug(c.title)}"
    conf = f"{c.spec.confidence:.0%} CI"
    blocks = [Block("heading", c.title, level=2)]
    rows: list[tuple[str, ...]] = [("arm", "mean", conf, "items", "seeds")]
    rows += [(r.arm, _num(r.estimate.mean), _ci(r.estimate.low, r.estimate.high),
              str(r.estimate.n), str(r.estimate.seeds)) for r in c.arms]
    blocks += [Block("table", rows=tuple(rows)),
               Block("image", c.title, path=plots.arms_plot(c, out / f"arms-{slug}.png"))]
    if c.pairs:
        rows = [("b − a", "difference", conf, "p", "p (Holm)", "sig.", "wins/losses/ties",
                 "test")]
        rows += [(f"{p.b} − {p.a}", _num(p.result.diff.mean, "+.3f"),
                  _ci(p.result.diff.low, p.result.diff.high, "+.3f"), _p(p.result.p),
                  _p(p.p_holm), "*" if p.significant else "",
                  f"{p.result.wins}/{p.result.losses}/{p.result.ties}", p.result.test)
                 for p in c.pairs]
        blocks.append(Block("table", rows=tuple(rows)))
        if any(p.result.diff.n for p in c.pairs):
            blocks.append(Block("image", f"{c.title}: differences",
                                path=plots.diffs_plot(c, out / f"diffs-{slug}.png")))
    axes = list(c.spec.cost_axes)
    rows = [("arm", *[AXES[ax] for ax in axes])]
    rows += [(arm, *[_num(a.costs[arm][ax].mean, ".4g") for ax in axes]) for arm in a.arms]
    blocks += [Block("heading", f"{c.title}: cost per run (mean over seeds)", level=3),
               Block("table", rows=tuple(rows))]
    if c.budget and c.spec.equal_budget:
        eb = c.spec.equal_budget
        rows = [("arm", AXES[eb.axis], "× median", f"within {eb.tolerance:.0%}")]
        rows += [(b.arm, f"{b.value:.4g}", f"{b.ratio:.2f}", "yes" if b.ok else "NO")
                 for b in c.budget]
        blocks += [Block("text", "Equal budget check:"), Block("table", rows=tuple(rows))]
    flat = []
    for ax in axes:
        values = [a.costs[arm][ax].mean for arm in a.arms]
        if all(math.isnan(v) or v == 0 for v in values):
            flat.append(AXES[ax])
            continue
        blocks.append(Block("image", f"{c.title} against {AXES[ax]}",
                            path=plots.cost_plot(a, c, ax, out / f"cost-{slug}-{ax}.png")))
    if flat:
        blocks.append(Block("text", "Not plotted (zero for every arm): " + ", ".join(flat) + "."))
    return blocks


def build(a: StudyAnalysis, out: Path) -> list[Block]:
    """The report's blocks; plots are written into ``out`` as they are made."""
    s = a.study
    computed, reused = a.reuse_counts()
    blocks = [Block("heading", f"Study {a.study_id}: {a.name}", level=1)]
    if s.description:
        blocks.append(Block("text", s.description))
    blocks.append(Block("text", f"Status: {a.status}. {len(s.arms)} arms × {len(s.seeds)} "
                        f"seeds ({', '.join(map(str, s.seeds))}). Base recipe: "
                        f"{s.base or 'inline'}."))
    if a.error:
        blocks.append(Block("text", f"Stopped: {a.error}"))
    rows: list[tuple[str, ...]] = [("arm", "description", "recipe", "overrides")]
    rows += [(arm.name, arm.description, arm.recipe or s.base or "inline",
              "; ".join(arm.overrides()) or "—") for arm in s.arms]
    blocks += [Block("heading", "Arms", level=2), Block("table", rows=tuple(rows))]
    rows = [("arm", "seed", "run", "status", "reused stages (from run)")]
    rows += [(r.arm, str(r.seed), str(r.run_id), r.status,
              ", ".join(f"{st} (run {src})" for st, src in r.reused) or "—") for r in a.runs]
    blocks += [Block("heading", "Runs", level=2),
               Block("text", f"Shared work: {computed} stages computed, {reused} reused "
                     "(copied from the run that computed them with the same inputs)."),
               Block("table", rows=tuple(rows))]
    stages = list(dict.fromkeys(st for per in a.stage_seconds.values() for st in per))
    if stages:
        rows = [("arm", *stages)]
        rows += [(arm, *[_num(a.stage_seconds.get(arm, {})[st].mean, ".3g")
                         if st in a.stage_seconds.get(arm, {}) else "—" for st in stages])
                 for arm in a.arms]
        blocks += [Block("text", "Wall time per stage (s, mean over seeds; a reused stage "
                         "counts the run that computed it):"), Block("table", rows=tuple(rows))]
    by_comparison: dict[int, list[ComparisonResult]] = {}
    for n, c in enumerate(a.comparisons, start=1):
        blocks += _comparison(a, c, out, n)
        by_comparison.setdefault(c.index, []).append(c)
    for index, results in by_comparison.items():
        if results[0].spec.by and len(results) > 1:
            blocks.append(Block("image", f"{results[0].spec.label} by {results[0].spec.by}",
                                path=plots.by_plot(results, out / f"by-{index + 1}.png")))
    if a.correlations:
        rows = [("correlation", "arm", "method", "rho", "95% CI", "p", "items")]
        rows += [(c.spec.name, c.arm, c.corr.method, _num(c.corr.rho),
                  _ci(c.corr.low, c.corr.high), _p(c.corr.p), str(c.corr.n))
                 for c in a.correlations]
        blocks += [Block("heading", "Correlations", level=2), Block("table", rows=tuple(rows))]
    blocks += [Block("heading", "How the numbers are made", level=2), Block("text", METHOD)]
    return blocks


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(blocks: list[Block]) -> str:
    out = []
    for b in blocks:
        if b.kind == "heading":
            out.append("#" * b.level + " " + b.text)
        elif b.kind == "text":
            out.append(b.text)
        elif b.kind == "table":
            head, *body = b.rows
            lines = ["| " + " | ".join(_md_cell(c) for c in head) + " |",
                     "|" + "|".join("---" for _ in head) + "|"]
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in body]
            out.append("\n".join(lines))
        elif b.kind == "image" and b.path is not None:
            out.append(f"![{b.text}]({b.path.name})")
    return "\n\n".join(out) + "\n"


_CSS = ("body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}"
        "table{border-collapse:collapse;margin:0.6em 0}td,th{border:1px solid #bbb;"
        "padding:3px 8px;text-align:left}th{background:#eee}img{max-width:100%}")


def to_html(blocks: list[Block], title: str) -> str:
    """One self-contained file: images are embedded as data URIs, nothing is fetched."""
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}"
           f"</title><style>{_CSS}</style></head><body>"]
    for b in blocks:
        if b.kind == "heading":
            out.append(f"<h{b.level}>{html.escape(b.text)}</h{b.level}>")
        elif b.kind == "text":
            out.append(f"<p>{html.escape(b.text)}</p>")
        elif b.kind == "table":
            head, *body = b.rows
            rows = ["<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head) + "</tr>"]
            rows += ["<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                     for row in body]
            out.append("<table>" + "".join(rows) + "</table>")
        elif b.kind == "image" and b.path is not None:
            data = base64.b64encode(b.path.read_bytes()).decode()
            out.append(f"<p><img alt='{html.escape(b.text, quote=True)}' "
                       f"src='data:image/png;base64,{data}'></p>")
    out.append("</body></html>")
    return "\n".join(out)


def write_report(db_path: str | Path, a: StudyAnalysis, fmt: str = "md",
                 out: Path | None = None) -> Path:
    """Write the report (md or html) and its plots; returns the report's path."""
    from engine.paths import study_dir

    folder = out or study_dir(Path(db_path), a.study_id)
    folder.mkdir(parents=True, exist_ok=True)
    blocks = build(a, folder)
    if fmt == "html":
        path = folder / "report.html"
        path.write_text(to_html(blocks, f"Study {a.study_id}: {a.name}"), encoding="utf-8")
    else:
        path = folder / "report.md"
        path.write_text(to_markdown(blocks), encoding="utf-8")
    return path
