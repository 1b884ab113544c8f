"""Study statistics against reference implementations (scipy, statsmodels) on known inputs,
and the case studies exist for: overlapping unpaired intervals, significant paired test."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as ss
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from engine.studies import stats


def _mean_diff(x, y, axis=-1):
    return np.mean(x - y, axis=axis)


def test_one_seed_interval_is_scipys_percentile_bootstrap():
    rng = np.random.default_rng(3)
    for values in (rng.integers(0, 2, 150).astype(float),  # pass/fail
                   rng.choice([0.0, 0.1, 0.5, 0.9, 1.0], 120),  # P_i-like
                   rng.normal(5, 2, 90)):  # scores
        mine = stats.arm_interval([values], resamples=40_000)
        ref = ss.bootstrap((values,), np.mean, method="percentile", n_resamples=40_000,
                           random_state=1).confidence_interval
        assert mine.mean == pytest.approx(values.mean())
        scale = values.std() / math.sqrt(len(values))
        assert mine.low == pytest.approx(ref.low, abs=0.05 * scale)
        assert mine.high == pytest.approx(ref.high, abs=0.05 * scale)
        assert mine.n == len(values) and mine.seeds == 1


def test_resampling_distinct_values_gives_the_distribution_of_resampling_items():
    """The multinomial-over-distinct-values shortcut against plain index resampling."""
    rng = np.random.default_rng(0)
    values = rng.choice([0.0, 0.2, 0.6, 1.0], 300, p=[0.4, 0.2, 0.1, 0.3])
    fast = stats.bootstrap_means([values], resamples=40_000, seed=1)
    idx = rng.integers(0, len(values), size=(40_000, len(values)))
    naive = values[idx].mean(axis=1)
    for q in (0.025, 0.25, 0.5, 0.75, 0.975):
        assert np.quantile(fast, q) == pytest.approx(np.quantile(naive, q), abs=0.004)


def _two_stage_naive(groups, resamples, rng):
    out = []
    for _ in range(resamples):
        picked = [groups[i] for i in rng.integers(0, len(groups), len(groups))]
        out.append(np.mean([rng.choice(g, len(g)).mean() for g in picked]))
    return np.array(out)


def test_two_stage_bootstrap_resamples_seeds_then_items():
    rng = np.random.default_rng(5)
    # three seeds whose levels differ: the seed-to-seed spread must widen the interval
    groups = [rng.binomial(1, p, 200).astype(float) for p in (0.35, 0.5, 0.65)]
    two_stage = stats.arm_interval(groups, resamples=20_000)
    pooled = stats.arm_interval([np.concatenate(groups)], resamples=20_000)
    assert two_stage.mean == pytest.approx(np.mean([g.mean() for g in groups]))
    assert two_stage.seeds == 3 and two_stage.n == 600
    assert (two_stage.high - two_stage.low) > 2 * (pooled.high - pooled.low)
    naive = _two_stage_naive(groups, 4000, np.random.default_rng(9))
    assert two_stage.low == pytest.approx(np.quantile(naive, 0.025), abs=0.015)
    assert two_stage.high == pytest.approx(np.quantile(naive, 0.975), abs=0.015)


@pytest.mark.parametrize("b, c", [(0, 0), (0, 12), (5, 5), (44, 56), (3, 17), (1, 0), (30, 9)])
def test_mcnemar_exact_matches_statsmodels_and_scipy(b, c):
    mine = stats.mcnemar_exact(b, c)
    ref = mcnemar([[50, b], [c, 50]], exact=True).pvalue
    assert mine == pytest.approx(ref, rel=1e-12, abs=1e-15)
    if b + c:
        assert mine == pytest.approx(ss.binomtest(b, b + c, 0.5).pvalue, rel=1e-9)


@pytest.mark.parametrize("diffs", [
    [0.3, -0.1, 0.5, 0.2, 0.0, 0.4, -0.2, 0.6, 0.1, 0.3, 0.2, -0.05],
    [1, 1, 1, 0, 0, -1, 1, 1, 0, 1, 1, -1, 1, 1],  # ties and zeros, as pass/fail gives
    [0.1, 0.1, 0.1, 0.1, -0.1, 0.2, 0.2, -0.2, 0.3],
])
def test_sign_flip_exact_matches_scipys_exact_permutation_test(diffs):
    d = np.asarray(diffs, dtype=float)
    ref = ss.permutation_test((d, np.zeros_like(d)), _mean_diff, permutation_type="samples",
                              n_resamples=np.inf, vectorized=True).pvalue
    assert stats.sign_flip_pvalue(d) == pytest.approx(ref, abs=1e-9)


def test_sign_flip_sampled_is_close_to_scipys_permutation_test():
    rng = np.random.default_rng(2)
    for shift in (0.0, 0.15, 0.3):
        d = np.round(rng.normal(shift, 1, 60), 2)
        ref = ss.permutation_test((d, np.zeros_like(d)), _mean_diff, permutation_type="samples",
                                  n_resamples=40_000, vectorized=True, random_state=0).pvalue
        assert stats.sign_flip_pvalue(d, permutations=40_000) == pytest.approx(ref, abs=0.01)


def test_holm_matches_statsmodels():
    p = [0.01, 0.04, 0.03, 0.20, 0.005, 0.5]
    ref = multipletests(p, method="holm")[1]
    assert stats.holm(p) == pytest.approx(list(ref))
    assert stats.holm([]) == []


def test_seed_interval_and_paired_t_match_scipy():
    a = [0.61, 0.58, 0.66, 0.60, 0.63]
    b = [0.65, 0.60, 0.71, 0.62, 0.69]
    iv = stats.seed_interval(a)
    low, high = ss.t.interval(0.95, 4, loc=np.mean(a), scale=ss.sem(a))
    assert (iv.low, iv.high) == pytest.approx((low, high))
    res = stats.paired_seed_test(a, b)
    assert res.p == pytest.approx(ss.ttest_rel(b, a).pvalue)
    assert res.diff.mean == pytest.approx(np.mean(np.subtract(b, a)))
    assert (res.wins, res.losses, res.ties) == (5, 0, 0)
    assert math.isnan(stats.seed_interval([0.5]).low)


def test_spearman_with_bootstrap_interval_matches_scipy():
    rng = np.random.default_rng(4)
    x = rng.normal(size=60)
    y = 0.6 * x + rng.normal(size=60)
    y[:5] = y[5]  # ties
    corr = stats.correlation(x, y, resamples=4000)
    ref = ss.spearmanr(x, y)
    assert corr.rho == pytest.approx(ref.statistic) and corr.p == pytest.approx(ref.pvalue)
    boot = ss.bootstrap((x, y), lambda u, v: ss.spearmanr(u, v).statistic, paired=True,
                        vectorized=False, method="percentile", n_resamples=4000,
                        random_state=0).confidence_interval
    assert corr.low == pytest.approx(boot.low, abs=0.04)
    assert corr.high == pytest.approx(boot.high, abs=0.04)
    assert stats.correlation(x, y, "pearson").rho == pytest.approx(ss.pearsonr(x, y).statistic)


def _pass_fail(both: int, only_a: int, only_b: int, neither: int) -> tuple[np.ndarray, ...]:
    a = np.array([1] * both + [1] * only_a + [0] * only_b + [0] * neither, dtype=float)
    b = np.array([1] * both + [0] * only_a + [1] * only_b + [0] * neither, dtype=float)
    return a, b


def test_unpaired_intervals_overlap_but_the_paired_difference_is_significant():
    # 200 items: A solves 100; B solves the same 100 and 12 more (0.50 vs 0.56)
    a, b = _pass_fail(100, 0, 12, 88)
    ia, ib = stats.arm_interval([a]), stats.arm_interval([b])
    assert ia.high > ib.low  # the unpaired intervals overlap
    res = stats.paired_test([a], [b])
    assert res.test == "McNemar exact" and (res.wins, res.losses) == (12, 0)
    assert res.p == pytest.approx(2 * 0.5**12) and res.p < 0.001
    assert res.diff.mean == pytest.approx(0.06) and res.diff.low > 0


def test_the_converse_same_marginals_but_discordant_pairs_are_not_significant():
    # the same marginal rates (0.50 vs 0.56, same unpaired intervals), but the items the
    # arms solve differ: 44 only A, 56 only B. The paired test finds no difference.
    a, b = _pass_fail(56, 44, 56, 44)
    assert a.mean() == 0.5 and b.mean() == pytest.approx(0.56)
    res = stats.paired_test([a], [b])
    assert res.p == pytest.approx(mcnemar([[56, 44], [56, 44]], exact=True).pvalue)
    assert res.p > 0.2 and res.diff.low < 0 < res.diff.high


def test_continuous_scores_overlap_unpaired_yet_differ_paired_by_sign_flips():
    rng = np.random.default_rng(7)
    base = rng.normal(5, 2, 80)  # items differ a lot; B is a little better on each
    a, b = base, base + 0.3 + rng.normal(0, 0.2, 80)
    assert stats.arm_interval([a]).high > stats.arm_interval([b]).low
    res = stats.paired_test([a], [b])
    assert res.test == "sign-flip permutation" and res.p < 0.001 and res.diff.low > 0


def test_paired_test_refuses_unmatched_items():
    with pytest.raises(ValueError, match="same items"):
        stats.paired_test([[1.0, 0.0]], [[1.0]])
