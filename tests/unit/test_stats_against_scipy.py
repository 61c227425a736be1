"""The comparison statistics against SciPy and scikit-learn on random inputs (dev extra).

Assay computes its tests with NumPy alone so that a comparison needs no SciPy import; these
checks hold each one to the reference implementation: McNemar's exact test (a two-sided
binomial test on the discordant pairs), the Wilcoxon signed-rank test (normal approximation,
tie-corrected variance), the percentile bootstrap interval, the paired t interval and p-values
of the margin tests, and Cohen's kappa.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats
from sklearn.metrics import cohen_kappa_score

from assay.analysis.agreement import cohen_kappa
from assay.analysis.margins import paired_t
from assay.analysis.stats import NORMAL_ABOVE, bootstrap_ci, mcnemar_exact, wilcoxon_test

SEEDS = range(40)


@pytest.mark.parametrize("seed", SEEDS)
def test_mcnemar_exact_is_scipys_binomial_test(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 400))
    a = (rng.random(n) < rng.uniform(0.2, 0.9)).astype(float)
    b = np.where(rng.random(n) < rng.uniform(0.0, 0.4), 1 - a, a)
    ours = mcnemar_exact(a, b)
    only_a, only_b = int(np.sum((a == 1) & (b == 0))), int(np.sum((a == 0) & (b == 1)))
    if only_a + only_b == 0:
        assert ours.p_value == 1.0
        return
    theirs = scipy_stats.binomtest(only_b, only_a + only_b, 0.5).pvalue
    assert ours.p_value == pytest.approx(theirs, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("correction", [False, True])
def test_wilcoxon_is_scipys_normal_approximation(seed: int, correction: bool) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(12, 300))
    # rounded values: ties and zeros, as scores on a scale give them
    d = np.round(rng.normal(rng.uniform(-0.3, 0.3), 1.0, n) * 4) / 4
    if not np.any(d):
        return
    ours = wilcoxon_test(d, correction=correction)
    theirs = scipy_stats.wilcoxon(
        d, zero_method="wilcox", correction=correction, method="approx"
    ).pvalue
    assert ours.p_value == pytest.approx(theirs, rel=1e-7, abs=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_bootstrap_interval_agrees_with_scipys_percentile_bootstrap(seed: int) -> None:
    rng = np.random.default_rng(seed)
    d = rng.normal(0.1, 1.0, 300)
    ours = bootstrap_ci(d, resamples=20_000, seed=seed)
    theirs = scipy_stats.bootstrap(
        (d,), np.mean, n_resamples=20_000, method="percentile", random_state=seed
    ).confidence_interval
    se = d.std(ddof=1) / math.sqrt(d.size)
    # two Monte Carlo estimates of the same quantiles (each off by about 0.02 standard errors)
    assert ours.low == pytest.approx(theirs.low, abs=0.1 * se)
    assert ours.high == pytest.approx(theirs.high, abs=0.1 * se)
    assert ours.estimate == pytest.approx(d.mean())


@pytest.mark.parametrize(
    "draw",
    [
        lambda rng, n: rng.random(n) - 0.5,
        lambda rng, n: rng.lognormal(0, 1, n) - rng.lognormal(0, 1, n),
        lambda rng, n: rng.lognormal(0, 2, n),  # one-sided, heavy right tail
        lambda rng, n: rng.gamma(2, 400, n) - rng.gamma(2, 380, n),  # latency differences
    ],
    ids=["uniform", "lognormal-difference", "heavy-tail", "latency"],
)
def test_the_normal_interval_over_many_items_is_the_percentile_bootstraps(draw: object) -> None:
    """Above NORMAL_ABOVE clusters the interval is the normal one; SciPy's percentile bootstrap
    of the same data lands within its own resampling noise of it, even for skewed data."""
    rng = np.random.default_rng(7)
    d = draw(rng, NORMAL_ABOVE + 1)  # type: ignore[operator]
    ours = bootstrap_ci(d)
    theirs = scipy_stats.bootstrap(
        (d,), np.mean, n_resamples=2000, method="percentile", random_state=7, batch=100
    ).confidence_interval
    width = ours.high - ours.low
    assert width > 0
    assert ours.low == pytest.approx(theirs.low, abs=0.06 * width)
    assert ours.high == pytest.approx(theirs.high, abs=0.06 * width)
    assert ours.estimate == pytest.approx(d.mean())


@pytest.mark.parametrize("seed", SEEDS)
def test_paired_t_margin_tests_are_scipys_one_sided_t_tests(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 200))
    d = rng.normal(rng.uniform(-0.5, 0.5), rng.uniform(0.1, 2.0), n)
    margin, alpha = float(rng.uniform(0.05, 0.5)), 0.05
    low, high, p_lower, p_upper = paired_t(d, margin, alpha)
    interval = scipy_stats.ttest_1samp(d, 0.0).confidence_interval(1 - 2 * alpha)
    assert low == pytest.approx(interval.low)
    assert high == pytest.approx(interval.high)
    # "B is worse by at least the margin" (mean <= -margin), rejected for non-inferiority
    assert p_lower == pytest.approx(
        scipy_stats.ttest_1samp(d, -margin, alternative="greater").pvalue, rel=1e-7
    )
    assert p_upper == pytest.approx(
        scipy_stats.ttest_1samp(d, margin, alternative="less").pvalue, rel=1e-7
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_cohen_kappa_is_scikit_learns(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    labels = ["pass", "fail", "unsure"][: int(rng.integers(2, 4))]
    a = list(rng.choice(labels, n))
    b = [x if rng.random() < 0.7 else str(rng.choice(labels)) for x in a]
    ours = cohen_kappa(a, b)
    if len(set(a) | set(b)) == 1:
        assert ours is None
        return
    assert ours == pytest.approx(cohen_kappa_score(a, b), abs=1e-12)
