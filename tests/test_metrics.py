"""pass@k / solve@k against brute-force enumeration, the plan x code grid, intervals."""

from __future__ import annotations

import itertools
import math

import pytest

from engine.metrics import (
    accuracy,
    bootstrap_ci,
    grid_counts,
    grid_summary,
    mean_ci,
    pass_at_k,
    solve_at_k,
    wilson,
)


def _brute_force(n: int, c: int, k: int) -> float:
    """Share of all k-subsets of n samples (c passing) holding at least one pass."""
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(samples[i] for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 9))
def test_pass_at_k_matches_enumeration(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(_brute_force(n, c, k), abs=1e-12)


def test_pass_at_k_paper_formula_and_edges():
    # explain paper: n = 10, P_i = 1 - C(10 - g, k) / C(10, k)
    for g in range(11):
        for k in (1, 5, 10):
            expected = 1 - math.comb(10 - g, k) / math.comb(10, k)
            assert pass_at_k(10, g, k) == pytest.approx(expected)
    assert pass_at_k(200, 3, 1) == pytest.approx(3 / 200)
    assert pass_at_k(1000, 1, 1000) == 1.0
    with pytest.raises(ValueError, match="k=5"):
        pass_at_k(3, 1, 5)
    with pytest.raises(ValueError, match="c=4"):
        pass_at_k(3, 4, 1)


def test_solve_at_k_is_the_mean_over_items():
    counts = [(10, 0), (10, 1), (10, 10), (5, 2)]
    assert solve_at_k(counts, 1) == pytest.approx((0 + 0.1 + 1 + 0.4) / 4)
    assert solve_at_k([], 1) == 0.0


def test_grid_plans_by_codes():
    grid = [[False, True], [False, False], [False, False], [True, True], [False, False]]
    assert grid_counts(grid) == (10, 3)
    summary = grid_summary([grid, [[False] * 2] * 5], ks=(1, 5, 10, 20))
    assert (summary.problems, summary.plans, summary.codes_per_plan) == (2, 5, 2)
    assert set(summary.solve_at_k) == {1, 5, 10}  # k = 20 > M*T is left out
    assert summary.solve_at_k[1].mean == pytest.approx((0.3 + 0) / 2)
    assert summary.solve_at_k[10].mean == pytest.approx(0.5)
    assert summary.plan_success.mean == pytest.approx(2 / 10)


def test_wilson_still_works_and_accuracy_uses_it():
    low, high = wilson(8, 10)
    assert 0.49 < low < 0.5 and 0.94 < high < 0.95
    assert wilson(0, 0) == (0.0, 1.0)
    est = accuracy([True] * 8 + [False] * 2)
    assert (est.mean, est.low, est.high, est.n) == (0.8, low, high, 10)
    assert "0.800" in str(est) and "n=10" in str(est)


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_n():
    small = [1.0, 0.0] * 10
    large = [1.0, 0.0] * 500
    s_low, s_high = bootstrap_ci(small)
    l_low, l_high = bootstrap_ci(large)
    assert s_low < 0.5 < s_high and l_low < 0.5 < l_high
    assert (l_high - l_low) < (s_high - s_low) / 4
    # close to the normal approximation 1.96 * sqrt(p (1 - p) / n) for n = 1000
    assert (l_high - l_low) / 2 == pytest.approx(1.96 * math.sqrt(0.25 / 1000), rel=0.15)
    assert bootstrap_ci(small, seed=1) == bootstrap_ci(small, seed=1)
    est = mean_ci([0.2, 0.4, 0.6])
    assert est.mean == pytest.approx(0.4) and est.low <= 0.4 <= est.high and est.n == 3
    assert mean_ci([]).n == 0
