"""Statistics for results: accuracy, unbiased pass@k / solve@k, and confidence intervals.

* ``wilson``: interval for a proportion (accuracy over items, one sample each);
* ``pass_at_k``: the unbiased estimator 1 - C(n-c, k) / C(n, k) for one item with n
  samples of which c pass (Chen et al. 2021); ``solve_at_k`` is its mean over items, the
  same estimator the explain paper (Li & Mooney 2024) calls solve@k;
* ``grid_counts`` / ``grid_summary``: the explain paradigm's M plans x T codes per problem;
* ``bootstrap_ci`` / ``mean_ci``: mean over items with a percentile-bootstrap interval.

Pure Python; knows nothing of the store or tasks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist, fmean


def wilson(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (good at small n and near 0 or 1)."""
    if n == 0:
        return (0.0, 1.0)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Estimate:
    """A mean with its confidence interval, the number of items and the level."""

    mean: float
    low: float
    high: float
    n: int
    confidence: float = 0.95

    def __str__(self) -> str:
        half = (self.high - self.low) / 2
        return (f"{self.mean:.3f} ± {half:.3f} ({self.confidence:.0%} CI "
                f"{self.low:.3f}–{self.high:.3f}, n={self.n})")


def accuracy(passed: Sequence[bool], confidence: float = 0.95) -> Estimate:
    """Fraction passed with a Wilson interval."""
    n, ok = len(passed), sum(bool(p) for p in passed)
    low, high = wilson(ok, n, confidence)
    return Estimate(ok / n if n else 0.0, low, high, n, confidence)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one item: chance that k of the n samples, drawn without
    replacement, include at least one of the c that pass. Needs n >= k."""
    if not 0 <= c <= n:
        raise ValueError(f"pass_at_k: c={c} passing samples must be between 0 and n={n}")
    if not 1 <= k <= n:
        raise ValueError(f"pass_at_k: k={k} must be between 1 and the sample count n={n}")
    if n - c < k:
        return 1.0
    # C(n-c, k) / C(n, k) as a product: no huge binomials, stable for large n
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def solve_at_k(counts: Sequence[tuple[int, int]], k: int) -> float:
    """Mean pass@k over items, each given as (n samples, c passing)."""
    if not counts:
        return 0.0
    return fmean(pass_at_k(n, c, k) for n, c in counts)


def pass_at_k_ci(counts: Sequence[tuple[int, int]], k: int, confidence: float = 0.95,
                 resamples: int = 2000, seed: int = 0) -> Estimate:
    """solve@k over items with a bootstrap interval over items."""
    return mean_ci([pass_at_k(n, c, k) for n, c in counts], confidence, resamples, seed)


def grid_counts(grid: Sequence[Sequence[bool]]) -> tuple[int, int]:
    """One problem's M plans x T codes (``grid[m][t]``: code t of plan m passed) as the
    (n, c) that solve@k takes: all M*T programs are samples of that problem."""
    n = sum(len(row) for row in grid)
    c = sum(bool(x) for row in grid for x in row)
    return n, c


@dataclass(frozen=True)
class GridSummary:
    """Aggregate over problems of M plans x T codes each."""

    problems: int
    plans: int  # M (the largest seen)
    codes_per_plan: int  # T (the largest seen)
    solve_at_k: dict[int, Estimate]  # over all M*T programs per problem
    plan_success: Estimate  # fraction of plans with at least one passing code


def grid_summary(grids: Sequence[Sequence[Sequence[bool]]], ks: Sequence[int] = (1, 5, 10),
                 confidence: float = 0.95, seed: int = 0) -> GridSummary:
    """solve@k for each k <= M*T, and how often a plan leads to a passing program."""
    counts = [grid_counts(g) for g in grids]
    smallest = min((n for n, _ in counts), default=0)
    plan_hits = [float(any(row)) for g in grids for row in g]
    return GridSummary(
        problems=len(grids),
        plans=max((len(g) for g in grids), default=0),
        codes_per_plan=max((len(row) for g in grids for row in g), default=0),
        solve_at_k={k: pass_at_k_ci(counts, k, confidence, seed=seed)
                    for k in ks if 1 <= k <= smallest},
        plan_success=mean_ci(plan_hits, confidence, seed=seed),
    )


def bootstrap_ci(values: Sequence[float], confidence: float = 0.95, resamples: int = 2000,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (items resampled).

    2,000 resamples put the 2.5 % / 97.5 % percentiles within about ±0.005 of their
    limit for proportions; the seed makes a report reproducible.
    """
    import numpy as np  # here, not at import time: the GUI imports this module

    if not values:
        return (0.0, 1.0)
    data = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = []
    chunk = max(1, 2_000_000 // len(data))  # bounds memory to ~16 MB of indices per chunk
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        means.append(data[rng.integers(0, len(data), size=(size, len(data)))].mean(axis=1))
    alpha = (1 - confidence) / 2
    low, high = np.quantile(np.concatenate(means), [alpha, 1 - alpha])
    return (float(low), float(high))


def mean_ci(values: Sequence[float], confidence: float = 0.95, resamples: int = 2000,
            seed: int = 0) -> Estimate:
    """Mean over items ± a bootstrap interval (scores, pass@k values, judge ratings)."""
    if not values:
        return Estimate(0.0, 0.0, 1.0, 0, confidence)
    low, high = bootstrap_ci(values, confidence, resamples, seed)
    return Estimate(fmean(values), low, high, len(values), confidence)
