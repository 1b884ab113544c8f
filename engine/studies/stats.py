"""The statistics of a study: intervals per arm, paired tests per pair of arms, Holm.

Inputs are per-item values grouped by seed: ``groups[s]`` holds one value per evaluation
item of seed s (an item's pass rate over its samples, its P_i for solve@k, a judge score).
Every seed is a run of its own, on its own split, so items are nested in seeds.

* ``arm_interval``: the mean over seeds of the mean over items, with a two-stage
  (hierarchical) percentile bootstrap: resample seeds, then items within each drawn seed.
  With one seed it is the ordinary percentile bootstrap over items.
* ``paired_test``: two arms on the same (seed, item) pairs. The difference gets the same
  two-stage bootstrap on the per-pair differences; the p-value comes from McNemar's exact
  test when every outcome is pass/fail (scipy's exact binomial test on the discordant
  pairs), else from a sign-flip permutation test of the mean difference.
* ``holm``: Holm's step-down adjustment when several pairs are compared.
* ``seed_interval`` / ``paired_seed_test``: for run-level numbers (one value per seed):
  Student t interval and the paired t-test (t distribution from its exact finite series
  for integer degrees of freedom, checked against scipy in the tests).
* ``correlation``: Spearman (or Pearson) over items with a bootstrap interval.

Speed: resampling n items with replacement is a multinomial draw of n over the items;
items with equal values are interchangeable, so the draw is made over the distinct values
instead (two for pass/fail, at most n+1 for P_i). That is exact, and it makes a study of
6 arms x 5 seeds x 500 items cost milliseconds rather than seconds. Knows nothing of the
store; numpy and scipy only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]
Values = Sequence[float] | Array
Groups = Sequence[Sequence[float]] | Sequence[Array]

# 2,000 resamples put percentile limits within about +-0.005 of their limit for proportions;
# 10,000 sign flips give a p-value near 0.05 to about +-0.002.
RESAMPLES = 2000
PERMUTATIONS = 10_000
# Up to this many non-zero paired differences, the sign-flip distribution is enumerated
# exactly (over the distinct values, so it stays small) instead of sampled.
EXACT_FLIPS = 24


@dataclass(frozen=True)
class Interval:
    """A mean with its confidence interval; ``n`` items (or pairs) over ``seeds`` seeds."""

    mean: float
    low: float
    high: float
    n: int
    seeds: int
    confidence: float = 0.95

    def excludes(self, value: float = 0.0) -> bool:
        return not (self.low <= value <= self.high)

    def text(self, digits: int = 3) -> str:
        if math.isnan(self.low):
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"

    def half_width(self) -> float:
        return (self.high - self.low) / 2 if not math.isnan(self.low) else 0.0


@dataclass(frozen=True)
class PairedResult:
    """Arm b minus arm a on matched (seed, item) pairs."""

    diff: Interval
    p: float
    test: str  # "McNemar exact", "sign-flip permutation" or "paired t over seeds"
    wins: int  # pairs where b is higher
    losses: int  # pairs where b is lower
    ties: int


def _arrays(groups: Groups) -> list[Array]:
    return [np.asarray(g, dtype=np.float64) for g in groups if len(g)]


def _resampled_means(rng: np.random.Generator, values: Array, size: tuple[int, ...]) -> Array:
    """Means of bootstrap resamples of ``values`` (n items drawn with replacement)."""
    uniq, counts = np.unique(values, return_counts=True)
    if len(uniq) == 1:
        return np.full(size, float(uniq[0]))
    n = len(values)
    if len(uniq) > 64:
        draws = rng.multinomial(n, counts / n, size=size)
        means: Array = draws @ uniq / n
        return means
    # the multinomial draw as conditional binomials, one vectorised draw per distinct value:
    # several times faster than rng.multinomial with a size, for the few values outcomes have
    left = np.full(size, n, dtype=np.int64)
    total = np.zeros(size)
    rest = 1.0
    for u, c in zip(uniq[:-1].tolist(), counts[:-1].tolist(), strict=True):
        share = c / n
        k = rng.binomial(left, min(1.0, max(0.0, share / rest)))
        total += k * u
        left -= k
        rest -= share
    total += left * float(uniq[-1])
    out: Array = total / n
    return out


def bootstrap_means(groups: Groups, resamples: int = RESAMPLES,
                    seed: int = 0) -> Array:
    """Two-stage bootstrap distribution of the mean of seed means (seeds, then items)."""
    arrays = _arrays(groups)
    if not arrays:
        return np.zeros(0)
    rng = np.random.default_rng(seed)
    if len(arrays) == 1:
        return _resampled_means(rng, arrays[0], (resamples,))
    s = len(arrays)
    pick = rng.integers(0, s, size=(resamples, s))  # the seeds each resample draws
    # every drawn slot gets its own item resample of its seed, so a seed drawn twice in one
    # resample contributes two independent item resamples
    chosen = np.empty((resamples, s))
    for j, a in enumerate(arrays):
        slots = pick == j
        chosen[slots] = _resampled_means(rng, a, (int(slots.sum()),))
    means: Array = chosen.mean(axis=1)
    return means


def _interval(groups: Groups, confidence: float, resamples: int,
              seed: int) -> Interval:
    arrays = _arrays(groups)
    if not arrays:
        return Interval(math.nan, math.nan, math.nan, 0, 0, confidence)
    point = float(np.mean([a.mean() for a in arrays]))
    means = bootstrap_means(arrays, resamples, seed)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return Interval(point, float(low), float(high), sum(len(a) for a in arrays), len(arrays),
                    confidence)


def arm_interval(groups: Groups, confidence: float = 0.95,
                 resamples: int = RESAMPLES, seed: int = 0) -> Interval:
    """Mean over seeds of the mean over items, with a two-stage bootstrap interval."""
    return _interval(groups, confidence, resamples, seed)


def mcnemar_exact(b: int, c: int) -> float:
    """McNemar's exact test: b pairs pass only in one arm, c only in the other; under the
    null each discordant pair goes either way with chance 1/2, so the two-sided p-value is
    twice the binomial tail of the smaller count (what scipy.stats.binomtest and statsmodels'
    mcnemar(exact=True) give; written out because importing scipy.stats takes ~0.5 s,
    which the GUI would pay on opening a study)."""
    n = b + c
    if n == 0:
        return 1.0
    tail: float = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def _exact_flip_p(nonzero: Array) -> float:
    """P(|T| >= |observed|) for T = the sum of the differences with random signs, enumerated
    over the distinct absolute values (the number of + signs among m equal values is
    binomial). Sums live on an integer grid of 1e-9 of the largest difference, so equal
    sums compare equal (no float ties)."""
    scale = float(np.abs(nonzero).max())
    steps = np.rint(np.abs(nonzero) / scale * 1e9).astype(np.int64)
    observed = abs(int((np.sign(nonzero).astype(np.int64) * steps).sum()))
    values, counts = np.unique(steps, return_counts=True)
    dist: dict[int, float] = {0: 1.0}
    for v, m in zip(values.tolist(), counts.tolist(), strict=True):
        weights = [math.comb(m, k) / 2.0 ** m for k in range(m + 1)]
        out: dict[int, float] = {}
        for total, prob in dist.items():
            for k, w in enumerate(weights):
                key = total + v * (2 * k - m)
                out[key] = out.get(key, 0.0) + prob * w
        dist = out
    return float(min(1.0, sum(p for total, p in dist.items() if abs(total) >= observed)))


def sign_flip_pvalue(diffs: Values, permutations: int = PERMUTATIONS,
                     seed: int = 0) -> float:
    """Two-sided paired permutation test of the mean difference: under the null each
    pair's difference is as likely to have either sign. Exact for up to ``EXACT_FLIPS``
    non-zero differences; else ``permutations`` random sign patterns, drawn per distinct
    absolute value (the number of + signs among m equal values is binomial)."""
    d = np.asarray(diffs, dtype=np.float64)
    observed = float(d.sum())
    if not np.any(d != 0):
        return 1.0
    if np.count_nonzero(d) <= EXACT_FLIPS:
        return _exact_flip_p(d[d != 0])
    values, counts = np.unique(np.abs(d[d != 0]), return_counts=True)
    rng = np.random.default_rng(seed)
    plus = rng.binomial(counts, 0.5, size=(permutations, len(values)))
    sums = ((2 * plus - counts) * values).sum(axis=1)
    tolerance = 1e-9 * max(1.0, abs(observed))
    extreme = int(np.sum(np.abs(sums) >= abs(observed) - tolerance))
    return (extreme + 1) / (permutations + 1)


def paired_test(a_groups: Groups, b_groups: Groups,
                confidence: float = 0.95, resamples: int = RESAMPLES,
                permutations: int = PERMUTATIONS, seed: int = 0) -> PairedResult:
    """b - a on matched pairs: ``a_groups[s][i]`` and ``b_groups[s][i]`` are the same item
    of the same seed. Pass/fail outcomes get McNemar's exact test, others a sign-flip test."""
    a = _arrays(a_groups)
    b = _arrays(b_groups)
    if [len(x) for x in a] != [len(x) for x in b]:
        raise ValueError("paired_test: both arms need the same items in the same seeds")
    diffs = [bb - aa for aa, bb in zip(a, b, strict=True)]
    interval = _interval(diffs, confidence, resamples, seed)
    flat_a = np.concatenate(a) if a else np.zeros(0)
    flat_b = np.concatenate(b) if b else np.zeros(0)
    wins = int(np.sum(flat_b > flat_a))
    losses = int(np.sum(flat_b < flat_a))
    binary = bool(np.all(np.isin(flat_a, (0.0, 1.0))) and np.all(np.isin(flat_b, (0.0, 1.0))))
    if not len(flat_a):
        p, test = math.nan, "no pairs"
    elif binary:
        p, test = mcnemar_exact(losses, wins), "McNemar exact"
    else:
        p = sign_flip_pvalue(np.concatenate(diffs), permutations, seed)
        test = "sign-flip permutation"
    return PairedResult(interval, p, test, wins, losses, len(flat_a) - wins - losses)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error over the compared pairs)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def t_mass(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with an integer ``df``: the exact finite series of
    Abramowitz & Stegun 26.7.3-4 (so no scipy import, ~0.5 s, on opening a study)."""
    theta = math.atan(abs(t) / math.sqrt(df))
    c2, sin = math.cos(theta) ** 2, math.sin(theta)
    if df % 2:  # odd: 2/pi (theta + sin cos (1 + 2/3 cos^2 + 2*4/(3*5) cos^4 + ...))
        term, total = 1.0, 1.0 if df > 1 else 0.0
        for k in range(1, (df - 1) // 2):
            term *= c2 * (2 * k) / (2 * k + 1)
            total += term
        return 2 / math.pi * (theta + sin * math.cos(theta) * total)
    term, total = 1.0, 1.0  # even: sin (1 + 1/2 cos^2 + 1*3/(2*4) cos^4 + ...)
    for k in range(1, df // 2):
        term *= c2 * (2 * k - 1) / (2 * k)
        total += term
    return sin * total


@cache
def t_quantile(confidence: float, df: int) -> float:
    """The t with P(|T| <= t) = confidence (two-sided critical value), by bisection."""
    low, high = 0.0, 1.0
    while t_mass(high, df) < confidence:
        high *= 2
    for _ in range(200):
        mid = (low + high) / 2
        if t_mass(mid, df) < confidence:
            low = mid
        else:
            high = mid
        if high - low < 1e-12 * high:
            break
    return (low + high) / 2


def seed_interval(values: Values, confidence: float = 0.95) -> Interval:
    """Mean of one number per seed with a Student t interval (NaN limits for one seed)."""
    x = np.asarray(values, dtype=np.float64)
    if not len(x):
        return Interval(math.nan, math.nan, math.nan, 0, 0, confidence)
    mean = float(x.mean())
    if len(x) < 2:
        return Interval(mean, math.nan, math.nan, 1, 1, confidence)
    half = t_quantile(confidence, len(x) - 1) * float(x.std(ddof=1)) / math.sqrt(len(x))
    return Interval(mean, mean - half, mean + half, len(x), len(x), confidence)


def paired_seed_test(a: Values, b: Values, confidence: float = 0.95) -> PairedResult:
    """b - a for run-level numbers, one per seed: the paired t-test (as scipy.stats.ttest_rel)."""
    xa, xb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    d = xb - xa
    diff = seed_interval(d, confidence)
    if len(d) < 2 or float(d.std(ddof=1)) == 0:
        p = 1.0 if np.all(d == 0) else math.nan  # no spread: the t statistic is undefined
    else:
        t = float(d.mean()) / (float(d.std(ddof=1)) / math.sqrt(len(d)))
        p = 1.0 - t_mass(t, len(d) - 1)
    wins, losses = int(np.sum(xb > xa)), int(np.sum(xb < xa))
    return PairedResult(diff, p, "paired t over seeds", wins, losses, len(xa) - wins - losses)


@dataclass(frozen=True)
class Correlation:
    method: str
    rho: float
    low: float
    high: float
    p: float
    n: int


def _rowwise_pearson(x: Array, y: Array) -> Array:
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)
    denom = np.sqrt((xc * xc).sum(axis=1) * (yc * yc).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r: Array = (xc * yc).sum(axis=1) / denom
    return r


def correlation(x: Values, y: Values, method: str = "spearman",
                confidence: float = 0.95, resamples: int = RESAMPLES,
                seed: int = 0) -> Correlation:
    """Spearman's rho (or Pearson's r) over items, scipy's point estimate and p-value, with a
    percentile bootstrap interval over items (resampled pairs; constant resamples dropped)."""
    from scipy import stats

    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n = len(xa)
    if n < 3 or np.all(xa == xa[0]) or np.all(ya == ya[0]):
        return Correlation(method, math.nan, math.nan, math.nan, math.nan, n)
    if method == "spearman":
        result = stats.spearmanr(xa, ya)
    elif method == "pearson":
        result = stats.pearsonr(xa, ya)
    else:
        raise ValueError(f"unknown correlation method {method!r}: use spearman or pearson")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n))
    bx, by = xa[idx], ya[idx]
    if method == "spearman":
        bx, by = stats.rankdata(bx, axis=1), stats.rankdata(by, axis=1)
    r = _rowwise_pearson(bx, by)
    r = r[np.isfinite(r)]
    alpha = (1 - confidence) / 2
    low, high = np.quantile(r, [alpha, 1 - alpha]) if len(r) else (math.nan, math.nan)
    return Correlation(method, float(result.statistic), float(low), float(high),
                       float(result.pvalue), n)
