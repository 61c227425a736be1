"""Seeded simulations: planted differences are found at the expected rate, noise is not.

Expected power comes from the normal approximation of the paired mean difference,
``z = |delta| * sqrt(n) / sd(d)``; the observed rate must land near it.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from assay.analysis import bootstrap_ci, cluster_differences, compare_runs, verdict
from assay.analysis.stats import permutation_test
from assay.domain import Verdict
from tests.unit.analysis_support import frame

#: One test per comparison is checked here, unadjusted; test_analysis_verdicts.py covers the
#: adjustment for several.
FAST = {"resamples": 1000, "permutations": 1000, "items": False, "p_adjust": "none"}


def _phi(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2))


def _power(z: float) -> float:
    return _phi(z - 1.96) + _phi(-z - 1.96)


def _numeric_verdicts(
    shift: float, sims: int, *, direction: str = "higher", test: str = "auto"
) -> Counter[Verdict]:
    rng = np.random.default_rng(20261122)
    n = 50
    seen: Counter[Verdict] = Counter()
    for sim in range(sims):
        item = rng.normal(0, 1, n)  # items differ a lot in difficulty: pairing removes it
        a = item + rng.normal(0, 0.5, n)
        b = item + shift + rng.normal(0, 0.5, n)
        cmp = compare_runs(
            [frame("a", np.ones(n), scores={"s": a}), frame("b", np.ones(n), scores={"s": b})],
            directions={"s": direction},  # type: ignore[dict-item]
            numeric_test=test,  # type: ignore[arg-type]
            seed=sim,
            **FAST,  # type: ignore[arg-type]
        )
        metric = cmp.metric("s")
        assert metric is not None
        seen[metric.contrasts[0].verdict] += 1
    return seen


@pytest.mark.parametrize("test", ["permutation", "wilcoxon"])
def test_identical_numeric_runs_are_inconclusive(test: str) -> None:
    seen = _numeric_verdicts(0.0, 300, test=test)
    assert seen[Verdict.inconclusive] / 300 >= 0.93


def test_planted_numeric_difference_is_found_at_expected_rate() -> None:
    sims, shift = 150, 0.25
    expected = _power(shift * math.sqrt(50) / (0.5 * math.sqrt(2)))  # about 0.70
    seen = _numeric_verdicts(shift, sims)
    assert seen[Verdict.better] / sims == pytest.approx(expected, abs=0.12)
    assert seen[Verdict.worse] == 0
    lower = _numeric_verdicts(shift, sims, direction="lower")
    assert lower[Verdict.worse] == seen[Verdict.better]  # same data, read the other way


def _pass_fail_verdicts(p_a: float, p_b: float, sims: int, n: int) -> Counter[Verdict]:
    rng = np.random.default_rng(7)
    seen: Counter[Verdict] = Counter()
    for sim in range(sims):
        a = (rng.random(n) < p_a).astype(float)
        b = (rng.random(n) < p_b).astype(float)
        cmp = compare_runs([frame("a", a), frame("b", b)], seed=sim, **FAST)  # type: ignore[arg-type]
        contrast = cmp.metrics[0].contrasts[0]
        assert contrast.test == "mcnemar_exact"
        seen[contrast.verdict] += 1
    return seen


def test_identical_pass_rates_are_inconclusive() -> None:
    seen = _pass_fail_verdicts(0.6, 0.6, 300, 150)
    assert seen[Verdict.inconclusive] / 300 >= 0.95


def test_planted_pass_rate_drop_is_called_worse_at_expected_rate() -> None:
    sims, n = 150, 200
    # d = b - a per item: +1 w.p. 0.5*0.35, -1 w.p. 0.5*0.65, so E[d] = -0.15
    mean = -0.15
    sd = math.sqrt(0.5 - mean**2)
    seen = _pass_fail_verdicts(0.5, 0.35, sims, n)
    assert seen[Verdict.worse] / sims == pytest.approx(_power(0.15 * math.sqrt(n) / sd), abs=0.12)
    assert seen[Verdict.better] == 0


def _clustered_false_positive_rate(*, clustered: bool, sims: int = 200) -> float:
    """No true difference on average, but run B shifts each item by its own random amount,
    so the repetitions of an item are correlated. Only the clustered analysis stays honest."""
    rng = np.random.default_rng(99)
    items, trials = 30, 5
    clusters = np.repeat(np.arange(items), trials)
    hits = 0
    for sim in range(sims):
        item = np.repeat(rng.normal(0, 1, items), trials)
        a = item + rng.normal(0, 0.3, items * trials)
        b = item + np.repeat(rng.normal(0, 0.5, items), trials) + rng.normal(0, 0.3, items * trials)
        d = cluster_differences(a, b, clusters if clustered else None)
        ci = bootstrap_ci(d, resamples=1000, seed=sim)
        test = permutation_test(d, permutations=1000, seed=sim)
        hits += verdict(ci, test) is not Verdict.inconclusive
    return hits / sims


def test_clustering_repetitions_keeps_false_positives_at_alpha() -> None:
    assert _clustered_false_positive_rate(clustered=True) <= 0.08
    # Treating the 150 correlated rows as independent pairs is overconfident.
    assert _clustered_false_positive_rate(clustered=False) >= 0.2


def test_repeated_trials_of_identical_runs_are_inconclusive() -> None:
    """Items with very different pass probabilities, five trials each, same in both runs:
    the pass-rate comparison goes through per-item rates and stays calibrated."""
    rng = np.random.default_rng(5)
    items, trials, sims = 40, 5, 200
    ids = [f"i{k}" for k in range(items) for _ in range(trials)]
    reps = [r for _ in range(items) for r in range(trials)]
    seen: Counter[Verdict] = Counter()
    flaky = 0
    for sim in range(sims):
        p = np.repeat(rng.beta(0.5, 0.5, items), trials)
        a = frame("a", rng.random(p.size) < p, items=ids, repetition=reps)
        b = frame("b", rng.random(p.size) < p, items=ids, repetition=reps)
        cmp = compare_runs([a, b], seed=sim, **FAST)  # type: ignore[arg-type]
        contrast = cmp.metrics[0].contrasts[0]
        assert contrast.test in ("permutation", "permutation_exact")
        assert contrast.n == items
        seen[contrast.verdict] += 1
        flaky += len(cmp.flaky_items)
    assert seen[Verdict.inconclusive] / sims >= 0.93
    assert flaky > 0


def test_bootstrap_interval_covers_the_true_difference() -> None:
    rng = np.random.default_rng(3)
    sims, covered = 300, 0
    for sim in range(sims):
        d = rng.exponential(1.0, 80) - 0.8  # skewed; true mean 0.2
        ci = bootstrap_ci(d, resamples=1000, seed=sim)
        covered += ci.low <= 0.2 <= ci.high
    assert 0.89 <= covered / sims <= 0.99
