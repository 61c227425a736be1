"""The planner's power against simulated power, and the sequential bound under continuous
monitoring: seeded, vectorised simulations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from assay.analysis.planning import (
    confidence_sequence,
    default_rho,
    difference_variance,
    items_needed,
    minimum_detectable_difference,
    mixture_radius,
    predicted_power,
    sequential_stop,
    trials_needed,
)

SIMS = 4000


def _simulated_power(
    rng: np.random.Generator, items: int, trials: int, delta: float, tau: float, noise: float
) -> float:
    """Two systems differing by ``delta`` on average, by ``tau`` per item, each trial noisy."""
    true = delta + rng.normal(0, tau, (SIMS, items))
    a = rng.normal(0, noise, (SIMS, items, trials)).mean(axis=2)
    b = true[:, :, None] + rng.normal(0, noise, (SIMS, items, trials))
    d = b.mean(axis=2) - a
    t = d.mean(axis=1) / (d.std(axis=1, ddof=1) / math.sqrt(items))
    return float(np.mean(2 * stats.t.sf(np.abs(t), items - 1) < 0.05))


@pytest.mark.parametrize(("items", "trials"), [(60, 1), (40, 3)])
def test_predicted_power_matches_simulation(items: int, trials: int) -> None:
    rng = np.random.default_rng(items * 10 + trials)
    tau, noise = 0.3, 0.5
    variance = difference_variance(tau**2, noise**2, trials)
    delta = minimum_detectable_difference(variance, items, power=0.7)
    assert predicted_power(variance, items, delta) == pytest.approx(0.7, abs=1e-4)
    seen = _simulated_power(rng, items, trials, delta, tau, noise)
    assert seen == pytest.approx(0.7, abs=0.05)


def test_items_and_trials_needed_reach_the_power() -> None:
    variance = difference_variance(0.04, 0.25, 2)
    n = items_needed(variance, 0.1, power=0.8)
    assert predicted_power(variance, n, 0.1) >= 0.8 > predicted_power(variance, n - 1, 0.1)
    k = trials_needed(0.04, 0.25, n, 0.1, power=0.8)
    assert k is not None
    assert k <= 2
    assert trials_needed(0.04, 0.25, 10, 0.1) is None  # item variance alone is too large
    with pytest.raises(Exception, match="difference must not be zero"):
        items_needed(variance, 0.0)


def test_confidence_sequence_keeps_type_one_error_under_continuous_monitoring() -> None:
    rng = np.random.default_rng(2)
    steps = 1000
    # Paired pass/fail differences with no true difference: -1, 0 or +1.
    d = rng.choice([-1.0, 0.0, 1.0], p=[0.15, 0.7, 0.15], size=(SIMS, steps))
    t = np.arange(1, steps + 1)
    half = mixture_radius(t, 0.05, default_rho(0.05))
    mean = np.cumsum(d, axis=1) / t
    ever = np.any(np.abs(mean) > half, axis=1)  # looked at after every single item
    assert float(ever.mean()) <= 0.05
    # Naive repeated 95 % intervals peeked at every step are far off.
    naive = np.abs(mean) > 1.96 * np.sqrt(0.3 / t)
    assert float(naive[:, 10:].any(axis=1).mean()) > 0.2


def test_sequential_stop_settles_a_real_difference_early() -> None:
    rng = np.random.default_rng(4)
    d = rng.choice([-1.0, 0.0, 1.0], p=[0.05, 0.6, 0.35], size=2000)
    step, how = sequential_stop(d)
    assert how == "better"
    assert step is not None
    assert step < 300
    low, _ = confidence_sequence(d[:step])
    assert low[-1] > 0 > low[step // 4]
    step, how = sequential_stop(
        rng.choice([-1.0, 0.0, 1.0], p=[0.1, 0.8, 0.1], size=3000), margin=0.1
    )
    assert how == "non_inferior"
    with pytest.raises(Exception, match=r"\[-1, 1\]"):
        confidence_sequence([0.5, 2.0])
