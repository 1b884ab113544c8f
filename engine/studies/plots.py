"""The report's PNG plots (matplotlib, Agg backend: no display needed).

For each comparison: the arms' means with their intervals; the paired differences with
theirs (a forest plot, zero marked); the metric against each cost axis, one series per
arm (its seeds as faint points, its mean as a marker with both intervals); and, with a
``by`` key, the metric against that key, one line per arm. Knows nothing of the store.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from engine.studies.analysis import ComparisonResult, StudyAnalysis
from engine.studies.spec import AXES

_SIZE = (7.0, 4.2)
_DPI = 110


def _figure() -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=_SIZE, dpi=_DPI, layout="constrained")
    ax.grid(True, alpha=0.25)
    return fig, ax


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.savefig(path)
    plt.close(fig)
    return path


def _colours(n: int) -> list[Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def _err(mean: float, low: float, high: float) -> list[list[float]]:
    if math.isnan(low):
        return [[0.0], [0.0]]
    return [[max(0.0, mean - low)], [max(0.0, high - mean)]]


def arms_plot(c: ComparisonResult, path: Path) -> Path:
    fig, ax = _figure()
    colours = _colours(len(c.arms))
    for i, (arm, colour) in enumerate(zip(c.arms, colours, strict=True)):
        e = arm.estimate
        if math.isnan(e.mean):
            continue
        ax.errorbar([i], [e.mean], yerr=_err(e.mean, e.low, e.high), fmt="o", color=colour,
                    capsize=6, markersize=8, label=arm.arm)
        for seed_mean in arm.seed_means.values():
            ax.plot([i + 0.12], [seed_mean], ".", color=colour, alpha=0.45)
    ax.set_xticks(range(len(c.arms)), [a.arm for a in c.arms], rotation=20, ha="right")
    ax.set_xlim(-0.6, len(c.arms) - 0.4)
    ax.set_ylabel(c.spec.metric)
    ax.set_title(f"{c.title}: mean with {c.spec.confidence:.0%} CI (dots: seeds)")
    return _save(fig, path)


def diffs_plot(c: ComparisonResult, path: Path) -> Path:
    fig, ax = _figure()
    rows = [p for p in c.pairs if p.result.diff.n]
    for i, p in enumerate(rows):
        d = p.result.diff
        colour = "tab:red" if p.significant else "tab:blue"
        ax.errorbar([d.mean], [i], xerr=_err(d.mean, d.low, d.high), fmt="s", color=colour,
                    capsize=5, markersize=7)
        mark = " *" if p.significant else ""
        ax.annotate(f"p(Holm) {p.p_holm:.2g}{mark}", (d.mean, i), textcoords="offset points",
                    xytext=(0, 9), ha="center", fontsize=8)
    ax.axvline(0.0, color="black", linewidth=1)
    ax.set_yticks(range(len(rows)), [f"{p.b} − {p.a}" for p in rows])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel(f"paired difference in {c.spec.metric} (same items)")
    ax.set_title(f"{c.title}: differences with {c.spec.confidence:.0%} CI (red: significant)")
    return _save(fig, path)


def cost_plot(a: StudyAnalysis, c: ComparisonResult, axis: str, path: Path) -> Path:
    fig, ax = _figure()
    for arm, colour in zip(c.arms, _colours(len(c.arms)), strict=True):
        e, cost = arm.estimate, a.costs[arm.arm][axis]
        if math.isnan(e.mean) or math.isnan(cost.mean):
            continue
        seed_costs = a.seed_costs(arm.arm, axis)
        xs = [seed_costs[s] for s in arm.seed_means if s in seed_costs]
        ys = [arm.seed_means[s] for s in arm.seed_means if s in seed_costs]
        ax.plot(xs, ys, ".", color=colour, alpha=0.45)
        ax.errorbar([cost.mean], [e.mean], xerr=_err(cost.mean, cost.low, cost.high),
                    yerr=_err(e.mean, e.low, e.high), fmt="o", color=colour, capsize=5,
                    markersize=8, label=arm.arm)
    ax.set_xlabel(f"{AXES[axis]} per run")
    ax.set_ylabel(c.spec.metric)
    ax.set_title(f"{c.title} against {AXES[axis]}")
    ax.legend(fontsize=8, loc="best")
    return _save(fig, path)


def by_plot(results: list[ComparisonResult], path: Path) -> Path:
    """The metric against the comparison's ``by`` key (e.g. round), one line per arm."""
    fig, ax = _figure()
    first = results[0]
    keys = [r.group or "" for r in results]
    for i, colour in enumerate(_colours(len(first.arms))):
        means = [r.arms[i].estimate for r in results]
        xs = list(range(len(keys)))
        ys = [e.mean for e in means]
        ax.plot(xs, ys, "-o", color=colour, label=first.arms[i].arm)
        lows = [e.low if not math.isnan(e.low) else e.mean for e in means]
        highs = [e.high if not math.isnan(e.high) else e.mean for e in means]
        ax.fill_between(xs, lows, highs, color=colour, alpha=0.15)
    ax.set_xticks(range(len(keys)), keys)
    ax.set_xlabel(first.spec.by or "")
    ax.set_ylabel(first.spec.metric)
    ax.set_title(f"{first.spec.label} by {first.spec.by} ({first.spec.confidence:.0%} CI bands)")
    ax.legend(fontsize=8, loc="best")
    return _save(fig, path)
