"""How many items and trials a paired comparison needs, and always-valid sequential bounds.

Paired design, per-item difference ``d`` averaged over ``k`` trials of each run:
``Var(d) = tau2 + 2 * within / k``, where ``within`` is the variance of one trial's outcome
around its item's mean (trial noise, per run) and ``tau2`` the variance of the true per-item
differences between the systems. With ``N`` items, a two-sided test at ``alpha`` has power
``1 - beta`` against a difference ``delta`` when ``|delta| >= (z_{1-alpha/2} + z_{1-beta}) *
sqrt(Var(d) / N)`` (the normal approximation; e.g. Chow, Shao & Wang, *Sample Size
Calculations in Clinical Research*, ch. 3).

The sequential bound is the normal-mixture confidence sequence of Howard et al. (2021, eq. 14)
for the running mean of differences bounded in ``[-1, 1]`` (1-sub-Gaussian): it holds at every
sample size at once, so a comparison may stop as soon as it excludes zero (or a margin)
without inflating the error rate.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from assay.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]
_NORMAL = NormalDist()


def difference_variance(tau2: float, within: float, trials: int) -> float:
    """``Var(d)`` of a per-item difference averaged over ``trials`` trials of each run."""
    if trials < 1:
        raise InvalidInput("trials must be at least 1", field="trials")
    if tau2 < 0 or within < 0:
        raise InvalidInput("variances must not be negative", field="variance")
    return tau2 + 2 * within / trials


def _z(alpha: float, power: float) -> float:
    if not 0 < alpha < 1:
        raise InvalidInput("alpha must be between 0 and 1", field="alpha")
    if not 0 < power < 1:
        raise InvalidInput("power must be between 0 and 1", field="power")
    return _NORMAL.inv_cdf(1 - alpha / 2) + _NORMAL.inv_cdf(power)


def minimum_detectable_difference(
    variance: float, items: int, *, alpha: float = 0.05, power: float = 0.8
) -> float:
    """The smallest difference a paired test on ``items`` items finds with ``power``."""
    if items < 2:
        raise InvalidInput("items must be at least 2", field="items")
    return _z(alpha, power) * math.sqrt(variance / items)


def items_needed(
    variance: float, difference: float, *, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Items needed to detect ``difference`` with ``power`` at ``alpha`` (two-sided)."""
    if difference == 0:
        raise InvalidInput("difference must not be zero", field="difference")
    return max(2, math.ceil((_z(alpha, power) / difference) ** 2 * variance))


def trials_needed(
    tau2: float,
    within: float,
    items: int,
    difference: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
) -> int | None:
    """Trials per item needed with ``items`` items; None when no number of trials suffices
    (the item-level variance ``tau2`` alone is too large: add items instead)."""
    allowed = items * (difference / _z(alpha, power)) ** 2
    if allowed <= tau2:
        return None
    if within == 0:
        return 1
    return max(1, math.ceil(2 * within / (allowed - tau2)))


def predicted_power(
    variance: float, items: int, difference: float, *, alpha: float = 0.05
) -> float:
    """Power of the two-sided paired test at ``alpha`` against ``difference``."""
    shift = abs(difference) / math.sqrt(variance / items)
    crit = _NORMAL.inv_cdf(1 - alpha / 2)
    return _NORMAL.cdf(shift - crit) + _NORMAL.cdf(-shift - crit)


def confidence_sequence(
    differences: npt.ArrayLike, *, alpha: float = 0.05, rho: float | None = None
) -> tuple[FloatArray, FloatArray]:
    """Running lower and upper bounds of the mean difference, valid at every step at once.

    ``differences`` are in ``[-1, 1]`` (per-item differences of pass rates, or of scores
    scaled to that range), in the random order the items were drawn. With ``S_t`` their sum,
    ``|S_t - t mu| < sqrt((t + rho) log((t + rho) / (rho alpha^2)))`` for every ``t`` with
    probability ``1 - alpha`` (Ville's inequality on the normal-mixture martingale). ``rho``
    sets where the boundary is tightest (default: around 100 items).
    """
    d = np.asarray(differences, dtype=np.float64)
    if d.ndim != 1 or d.size == 0:
        raise InvalidInput("differences must be a non-empty list", field="differences")
    if np.isnan(d).any() or (np.abs(d) > 1).any():
        raise InvalidInput("differences must lie in [-1, 1]", field="differences")
    if not 0 < alpha < 1:
        raise InvalidInput("alpha must be between 0 and 1", field="alpha")
    t = np.arange(1, d.size + 1, dtype=np.float64)
    half = mixture_radius(t, alpha, default_rho(alpha) if rho is None else rho)
    mean = np.cumsum(d) / t
    return mean - half, mean + half


def mixture_radius(t: npt.ArrayLike, alpha: float, rho: float) -> FloatArray:
    """Half-width of the two-sided normal-mixture bound on the mean after ``t`` samples."""
    tt = np.asarray(t, dtype=np.float64)
    return np.asarray(
        np.sqrt((tt + rho) * np.log((tt + rho) / (rho * alpha**2))) / tt, dtype=np.float64
    )


def default_rho(alpha: float, optimise_at: float = 100.0) -> float:
    """The mixture parameter that makes the bound tight near ``optimise_at`` samples
    (Howard et al. 2021, eq. 15)."""
    log = -math.log(alpha)
    return optimise_at / (2 * log + math.log(1 + 2 * log))


def settle(low: float, high: float, margin: float = 0.0) -> str | None:
    """How a confidence sequence at ``[low, high]`` settles a comparison, if it does:
    ``better`` (above zero), ``worse`` (below zero), ``non_inferior`` (above ``-margin``)."""
    if low > 0:
        return "better"
    if high < 0:
        return "worse"
    if margin > 0 and low > -margin:
        return "non_inferior"
    return None


def sequential_stop(
    differences: npt.ArrayLike, *, margin: float = 0.0, alpha: float = 0.05
) -> tuple[int | None, str]:
    """The first step at which the confidence sequence settles the comparison, and how:
    ``better`` (lower bound above zero), ``worse`` (upper bound below zero), ``non_inferior``
    (lower bound above ``-margin``), or ``(None, "open")`` when it never does."""
    low, high = confidence_sequence(differences, alpha=alpha)
    for step, (lo, hi) in enumerate(zip(low.tolist(), high.tolist(), strict=True), start=1):
        verdict = settle(lo, hi, margin)
        if verdict is not None:
            return step, verdict
    return None, "open"
