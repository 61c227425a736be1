"""Known answers for the paired statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from assay.analysis.stats import (
    Interval,
    Significance,
    binomial_two_sided,
    bootstrap_ci,
    cluster_differences,
    mcnemar_exact,
    permutation_test,
    verdict,
    wilcoxon_test,
)
from assay.domain import Verdict
from assay.errors import InvalidInput


def test_binomial_two_sided_by_hand() -> None:
    # P(X <= 3), X ~ Bin(13, 1/2) = (1 + 13 + 78 + 286) / 2**13
    assert binomial_two_sided(3, 13) == pytest.approx(2 * 378 / 8192)
    assert binomial_two_sided(10, 13) == pytest.approx(2 * 378 / 8192)
    assert binomial_two_sided(0, 20) == pytest.approx(2 * 0.5**20)
    assert binomial_two_sided(5, 10) == 1.0
    assert binomial_two_sided(0, 0) == 1.0


def test_mcnemar_counts_only_discordant_pairs() -> None:
    # 3 pairs pass only in A, 10 only in B, plus concordant pairs that must not matter.
    a = [1] * 3 + [0] * 10 + [1] * 40 + [0] * 7
    b = [0] * 3 + [1] * 10 + [1] * 40 + [0] * 7
    result = mcnemar_exact(a, b)
    assert result.test == "mcnemar_exact"
    assert result.statistic == 7
    assert result.n == 60
    assert result.p_value == pytest.approx(756 / 8192)


def test_mcnemar_drops_missing_rows_and_rejects_non_binary() -> None:
    result = mcnemar_exact([1, 0, float("nan")], [1, 1, 0])
    assert result.n == 2
    assert result.p_value == 1.0
    with pytest.raises(InvalidInput, match="0 or 1"):
        mcnemar_exact([0.5], [1])
    with pytest.raises(InvalidInput, match="differ in length"):
        mcnemar_exact([1, 0], [1])


def test_mcnemar_large_counts_stay_finite() -> None:
    a = np.r_[np.ones(40_000), np.zeros(41_000)]
    b = np.r_[np.zeros(40_000), np.ones(41_000)]
    p = mcnemar_exact(a, b).p_value
    # Normal approximation: z = 1000 / sqrt(81000) = 3.51
    assert p == pytest.approx(math.erfc(1000 / math.sqrt(81_000) / math.sqrt(2)), rel=0.05)


def test_wilcoxon_by_hand_with_ties_and_zeros() -> None:
    # Zero dropped; |d| = 1, 2, 3, 4, 4 -> ranks 1, 2, 3, 4.5, 4.5; W+ = 1 + 3 + 4.5.
    # Var = 5*6*11/24 - (2**3 - 2)/48 = 13.625; z = (8.5 - 7.5) / sqrt(13.625).
    result = wilcoxon_test([1, -2, 3, 4, 0, -4])
    assert result.statistic == 8.5
    assert result.n == 5
    z = 1 / math.sqrt(13.625)
    assert result.p_value == pytest.approx(math.erfc(z / math.sqrt(2)))
    corrected = wilcoxon_test([1, -2, 3, 4, 0, -4], correction=True)
    assert corrected.p_value == pytest.approx(math.erfc(0.5 / math.sqrt(13.625) / math.sqrt(2)))


def test_wilcoxon_float_noise_counts_as_a_tie() -> None:
    # 0.7 - 0.5 and 0.9 - 0.7 differ in the last bits; they are the same difference.
    tied = wilcoxon_test([0.7 - 0.5, -(0.9 - 0.7), 0.1])
    assert tied.statistic == pytest.approx(1 + 2.5)


def test_wilcoxon_all_zero_is_no_evidence() -> None:
    assert wilcoxon_test([0, 0, 0]).p_value == 1.0


def test_permutation_exact_by_enumeration() -> None:
    # Sign patterns of (1, 2, 3): sums 6, 4, 2, 0, 0, -2, -4, -6; |sum| >= 6 in 2 of 8.
    result = permutation_test([1, 2, 3])
    assert result.test == "permutation_exact"
    assert result.p_value == pytest.approx(0.25)
    assert permutation_test([1, 2, 3, 4, 0]).p_value == pytest.approx(2 / 16)
    assert permutation_test([0, 0]).p_value == 1.0


def test_permutation_monte_carlo_is_seeded_and_sensible() -> None:
    rng = np.random.default_rng(7)
    shifted = rng.normal(0.5, 1, 200)
    first = permutation_test(shifted, permutations=2000, seed=3)
    assert first.test == "permutation"
    assert first == permutation_test(shifted, permutations=2000, seed=3)
    assert first.p_value < 0.001
    null = permutation_test(rng.normal(0, 1, 200), permutations=2000, seed=3)
    assert null.p_value > 0.01


def test_permutation_grouped_magnitudes_match_sign_matrix() -> None:
    # Few distinct magnitudes take the binomial shortcut; the p-value must agree with the
    # general path within Monte Carlo error.
    d = np.r_[np.ones(30), -np.ones(18), np.full(12, 0.5)]
    grouped = permutation_test(d, permutations=20_000, seed=1).p_value
    jitter = d + np.linspace(0, 1e-6, d.size)  # all magnitudes distinct
    general = permutation_test(jitter, permutations=20_000, seed=1).p_value
    assert grouped == pytest.approx(general, abs=0.02)


def test_cluster_differences_average_repetitions() -> None:
    a = [1, 0, 1, 1, float("nan")]
    b = [1, 1, 0, 0, 1]
    clusters = ["x", "x", "y", "y", "z"]
    # x: (1 + 1)/2 - (1 + 0)/2 = 0.5 ; y: 0 - 1 = -1 ; z has no pair
    assert cluster_differences(a, b, clusters).tolist() == [0.5, -1.0]
    assert cluster_differences([1, 2], [2, 4]).tolist() == [1.0, 2.0]
    with pytest.raises(InvalidInput, match="clusters"):
        cluster_differences([1, 2], [1, 2], ["x"])


def test_bootstrap_interval_matches_normal_theory() -> None:
    rng = np.random.default_rng(11)
    d = rng.normal(0.3, 1.0, 2000)
    ci = bootstrap_ci(d, resamples=2000, seed=5)
    assert ci.estimate == pytest.approx(d.mean())
    half = 1.96 * d.std() / math.sqrt(d.size)
    assert ci.low < ci.estimate < ci.high
    assert (ci.high - ci.low) / 2 == pytest.approx(half, rel=0.1)
    assert ci == bootstrap_ci(d, resamples=2000, seed=5)


def test_bootstrap_discrete_shortcut_agrees_with_resampling() -> None:
    rng = np.random.default_rng(2)
    d = rng.choice([-1.0, 0.0, 1.0], p=[0.2, 0.5, 0.3], size=3000)
    fast = bootstrap_ci(d, seed=1)  # 3 distinct values: multinomial counts
    slow = bootstrap_ci(d + rng.normal(0, 1e-9, d.size), seed=1)  # all distinct: resampling
    assert fast.low == pytest.approx(slow.low, abs=0.01)
    assert fast.high == pytest.approx(slow.high, abs=0.01)


def test_bootstrap_rejects_bad_input() -> None:
    with pytest.raises(InvalidInput, match="no paired values"):
        bootstrap_ci([])
    with pytest.raises(InvalidInput, match="confidence"):
        bootstrap_ci([1.0, 2.0], confidence=1.0)
    with pytest.raises(InvalidInput, match="NaN"):
        bootstrap_ci([1.0, float("nan")])


def _ci(estimate: float, low: float, high: float) -> Interval:
    return Interval(estimate=estimate, low=low, high=high, confidence=0.95, n=10)


def _p(p: float) -> Significance:
    return Significance(test="wilcoxon", p_value=p, statistic=0.0, n=10)


def test_verdict_reads_direction_and_needs_both_answers() -> None:
    up = _ci(0.2, 0.1, 0.3)
    assert verdict(up, _p(0.01)) is Verdict.better
    assert verdict(up, _p(0.01), direction="lower") is Verdict.worse
    down = _ci(-0.2, -0.3, -0.1)
    assert verdict(down, _p(0.01)) is Verdict.worse
    assert verdict(down, _p(0.01), direction="lower") is Verdict.better
    assert verdict(up, _p(0.2)) is Verdict.inconclusive
    assert verdict(_ci(0.2, -0.01, 0.4), _p(0.01)) is Verdict.inconclusive
    assert verdict(up, _p(0.04), alpha=0.01) is Verdict.inconclusive
    with pytest.raises(InvalidInput, match="alpha"):
        verdict(up, _p(0.01), alpha=0)
