"""Non-inferiority and equivalence of a run against a baseline, within a margin.

"B is no more than 2 points worse than A" is the one-sided test of ``H0: B - A <= -margin``
(for a metric where higher is better); equivalence is two one-sided tests (TOST, Schuirmann
1987) of ``B - A <= -margin`` and ``B - A >= margin``. Both are level ``alpha`` tests and read
off the two-sided ``1 - 2 alpha`` interval.

- Pass/fail with one trial per item: Tango's (1998) score test for the difference of paired
  proportions, and the interval that inverts it (Newcombe 1998 found it the best-behaved
  of the paired-difference intervals).
- Numeric scores, or pass rates with repetitions: the paired t-test on per-item differences
  (repetitions of an item averaged first, as everywhere in the comparison).

The ``*_z`` and ``*_p`` functions are vectorised so that simulations test many comparisons at
once.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from assay.domain import Direction, MarginTest, MarginVerdict, MetricKind
from assay.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]
_NORMAL = NormalDist()
#: Bisection steps of the Tango interval: 2**-60 of the range is below float resolution.
_STEPS = 60


def tango_z(
    only_a: npt.ArrayLike, only_b: npt.ArrayLike, n: npt.ArrayLike, delta0: float
) -> FloatArray:
    """Tango's score statistic of ``H0: p_B - p_A = delta0`` for paired pass/fail outcomes.

    ``only_a`` counts items passing in A only, ``only_b`` in B only, ``n`` all pairs. Large
    positive values speak for a difference above ``delta0``. Works elementwise on arrays.
    """
    b = np.asarray(only_b, dtype=np.float64)
    c = np.asarray(only_a, dtype=np.float64)
    m = np.asarray(n, dtype=np.float64)
    d0 = float(delta0)
    # Constrained maximum-likelihood estimate of P(A pass, B fail) under H0 (Tango 1998, eq. 3).
    qa = 2 * m
    qb = -b - c + (2 * m - b + c) * d0
    qc = -c * d0 * (1 - d0)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = (np.sqrt(np.maximum(qb * qb - 4 * qa * qc, 0.0)) - qb) / (2 * qa)
        var = m * (2 * q + d0 * (1 - d0))
        z = (b - c - m * d0) / np.sqrt(var)
    return np.asarray(
        np.where(var > 0, z, np.where(b - c - m * d0 > 0, np.inf, 0.0)), dtype=np.float64
    )


def tango_interval(only_a: int, only_b: int, n: int, confidence: float) -> tuple[float, float]:
    """The score interval of ``p_B - p_A`` inverting :func:`tango_z` (bisection)."""
    crit = _NORMAL.inv_cdf(1 - (1 - confidence) / 2)
    bounds = []
    for target in (crit, -crit):  # z decreases in delta0: low bound where z == crit
        lo, hi = -1.0, 1.0
        for _ in range(_STEPS):
            mid = (lo + hi) / 2
            if float(tango_z(only_a, only_b, n, mid)) > target:
                lo = mid
            else:
                hi = mid
        bounds.append((lo + hi) / 2)
    return bounds[0], bounds[1]


def normal_upper_tail(z: npt.ArrayLike) -> FloatArray:
    """P(Z >= z) for a standard normal, elementwise."""
    from scipy import special  # loaded only when a margin or plan is computed

    return np.asarray(special.ndtr(-np.asarray(z, dtype=np.float64)), dtype=np.float64)


def t_upper_tail(t: npt.ArrayLike, df: npt.ArrayLike) -> FloatArray:
    """P(T >= t) for Student's t with ``df`` degrees of freedom, elementwise."""
    from scipy import stats  # loaded only when a margin or plan is computed

    return np.asarray(stats.t.sf(t, df), dtype=np.float64)


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom."""
    from scipy import stats

    return float(stats.t.ppf(p, df))


def _verdicts(
    p_lower: float, p_upper: float, direction: Direction, alpha: float
) -> tuple[float, float, MarginVerdict, MarginVerdict]:
    """``p_lower`` tests "B - A <= -margin", ``p_upper`` tests "B - A >= margin"."""
    p_ni = p_lower if direction == "higher" else p_upper
    p_eq = max(p_lower, p_upper)
    ni = MarginVerdict.non_inferior if p_ni < alpha else MarginVerdict.not_shown
    eq = MarginVerdict.equivalent if p_eq < alpha else MarginVerdict.not_shown
    return p_ni, p_eq, ni, eq


def margin_test(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    differences: npt.ArrayLike,
    *,
    kind: MetricKind,
    margin: float,
    direction: Direction = "higher",
    alpha: float = 0.05,
) -> MarginTest:
    """Non-inferiority and equivalence of run B against baseline A within ``margin``.

    ``a`` and ``b`` are the paired rows (NaN where missing), ``differences`` the per-item
    differences ``B - A`` (see :func:`~assay.analysis.stats.cluster_differences`). Pass/fail
    rows with one row per item use Tango's score test; otherwise the paired t-test on
    ``differences``.
    """
    if not math.isfinite(margin) or margin <= 0:
        raise InvalidInput("margin must be a positive number", field="margin")
    if not 0 < alpha < 0.5:
        raise InvalidInput("alpha must be between 0 and 0.5", field="alpha")
    av, bv = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    keep = ~(np.isnan(av) | np.isnan(bv))
    av, bv = av[keep], bv[keep]
    d = np.asarray(differences, dtype=np.float64)
    confidence = 1 - 2 * alpha
    if kind == "pass_fail" and av.size == d.size and d.size > 0:
        n = int(av.size)
        only_a = int(np.sum((av == 1) & (bv == 0)))
        only_b = int(np.sum((av == 0) & (bv == 1)))
        low, high = tango_interval(only_a, only_b, n, confidence)
        p_lower = float(normal_upper_tail(tango_z(only_a, only_b, n, -margin)))
        p_upper = float(1 - normal_upper_tail(tango_z(only_a, only_b, n, margin)))
        return _record(
            margin, "tango_score", confidence, low, high, p_lower, p_upper, direction, alpha
        )
    if d.size < 2:
        return MarginTest(
            margin=margin,
            method="paired_t",
            confidence=confidence,
            ci_low=None,
            ci_high=None,
            p_non_inferiority=None,
            p_equivalence=None,
            non_inferiority=MarginVerdict.not_shown,
            equivalence=MarginVerdict.not_shown,
        )
    low, high, p_lower, p_upper = paired_t(d, margin, alpha)
    return _record(margin, "paired_t", confidence, low, high, p_lower, p_upper, direction, alpha)


def paired_t(d: FloatArray, margin: float, alpha: float) -> tuple[float, float, float, float]:
    """The ``1 - 2 alpha`` interval of mean(d) and the p-values of ``mean <= -margin`` and
    ``mean >= margin`` (paired t, ``n - 1`` degrees of freedom)."""
    n = d.size
    mean = float(d.mean())
    se = float(d.std(ddof=1)) / math.sqrt(n)
    if se == 0:  # every item moved by the same amount: no sampling uncertainty left
        return mean, mean, float(mean <= -margin), float(mean >= margin)
    half = t_quantile(1 - alpha, n - 1) * se
    p_lower = float(t_upper_tail((mean + margin) / se, n - 1))
    p_upper = float(t_upper_tail((margin - mean) / se, n - 1))
    return mean - half, mean + half, p_lower, p_upper


def _record(
    margin: float,
    method: str,
    confidence: float,
    low: float,
    high: float,
    p_lower: float,
    p_upper: float,
    direction: Direction,
    alpha: float,
) -> MarginTest:
    p_ni, p_eq, ni, eq = _verdicts(p_lower, p_upper, direction, alpha)
    return MarginTest.model_validate(
        {
            "margin": margin,
            "method": method,
            "confidence": confidence,
            "ci_low": low,
            "ci_high": high,
            "p_non_inferiority": p_ni,
            "p_equivalence": p_eq,
            "non_inferiority": ni,
            "equivalence": eq,
        }
    )
