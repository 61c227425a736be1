"""Paired statistics for comparing two runs over the same items.

Every function is pure and seeded: the same input and ``seed`` give the same answer.

- :func:`cluster_differences` turns aligned (item, repetition) rows into one mean difference
  per item, so repetitions of an item count once and move together when resampling.
- :func:`bootstrap_ci` resamples items (clusters) to get a percentile interval of the mean
  difference (for many distinct values over many items, the normal interval it converges to).
- :func:`mcnemar_exact` tests pass/fail outcomes (binomial test on the discordant pairs).
- :func:`permutation_test` (sign flips, exact for few items, Monte Carlo otherwise) and
  :func:`wilcoxon_test` (signed ranks, normal approximation) test numeric differences.
- :func:`verdict` turns an interval and a p-value into *better*, *worse* or *inconclusive*.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

from assay.domain import Direction, TestName, Verdict
from assay.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]

#: Differences closer than this are treated as equal (ties, zeros): scores like 0.7 - 0.5 and
#: 0.9 - 0.7 differ in the last bits of a float but are the same difference.
_DECIMALS = 12
#: Budget of cells per chunk, bounding memory of the sign-pattern matrices.
_CHUNK_CELLS = 4_000_000
#: Bootstrap resamples are drawn a few rows at a time: index arrays that stay in cache are
#: gathered about twice as fast as large ones.
_GATHER_CELLS = 200_000
#: Above this many clusters of many distinct values, the interval of the mean is the normal
#: one: the percentile bootstrap's endpoints differ from it by less than their own resampling
#: noise (a few percent of the width; ``tests/unit/test_stats_against_scipy.py`` checks it),
#: and 2,000 resamples of 100,000 values cost about a second.
NORMAL_ABOVE = 20_000
#: Up to this many non-zero differences the permutation test enumerates every sign pattern.
EXACT_MAX = 16


class Interval(BaseModel):
    """A point estimate with its confidence interval (see :func:`bootstrap_ci`)."""

    model_config = ConfigDict(frozen=True)

    estimate: float
    low: float
    high: float
    confidence: float
    n: int


class Significance(BaseModel):
    """A two-sided significance test of "no difference between the runs"."""

    model_config = ConfigDict(frozen=True)

    test: TestName
    p_value: float
    statistic: float
    n: int


def _as_float_array(values: npt.ArrayLike, field: str) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise InvalidInput(f"{field} must be one-dimensional, got shape {arr.shape}", field=field)
    return arr


def _rounded(values: FloatArray) -> FloatArray:
    return np.round(values, _DECIMALS)


def cluster_differences(
    a: npt.ArrayLike, b: npt.ArrayLike, clusters: npt.ArrayLike | None = None
) -> FloatArray:
    """One difference ``mean(b) - mean(a)`` per cluster (item), over rows where both exist.

    ``a[i]`` and ``b[i]`` are the two runs' values for the same (item, repetition); NaN marks a
    missing value and drops the row. Without ``clusters`` every row is its own cluster.
    """
    av, bv = _as_float_array(a, "a"), _as_float_array(b, "b")
    if av.shape != bv.shape:
        raise InvalidInput(f"a and b differ in length ({av.size} != {bv.size})", field="b")
    keep = ~(np.isnan(av) | np.isnan(bv))
    diff = bv - av
    if not keep.all():
        diff = diff[keep]
    if clusters is None:
        return diff
    keys = np.asarray(clusters)
    if keys.shape != av.shape:
        raise InvalidInput(
            f"clusters differ in length from a ({keys.size} != {av.size})", field="clusters"
        )
    _, inverse, counts = np.unique(keys[keep], return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=diff, minlength=counts.size)
    return np.asarray(sums / counts, dtype=np.float64)


def _value_counts(d: FloatArray) -> tuple[FloatArray, npt.NDArray[np.intp]]:
    """The distinct values of ``d`` (rounded), ascending, and how often each occurs: what
    ``np.unique(..., return_counts=True)`` gives, sorting one rounded copy in place."""
    ordered = _rounded(d)
    ordered.sort()
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    counts = np.diff(np.append(starts, ordered.size))
    return ordered[starts], counts


def bootstrap_ci(
    differences: npt.ArrayLike,
    *,
    resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap interval of the mean of per-cluster ``differences``.

    Each resample draws as many clusters as there are, with replacement. When the differences
    take few distinct values (pass/fail, Likert scales) the resampled counts of each value are
    drawn from a multinomial directly, which is the same distribution at a fraction of the cost.
    Over more than :data:`NORMAL_ABOVE` clusters of many distinct values the interval is the
    normal one, ``mean ± z·sd/√n``, which the bootstrap's converges to.
    """
    d = _as_float_array(differences, "differences")
    if d.size == 0:
        raise InvalidInput("no paired values to compare", field="differences")
    if np.isnan(d).any():
        raise InvalidInput("differences contain NaN", field="differences")
    if resamples < 100:
        raise InvalidInput("resamples must be at least 100", field="resamples")
    if not 0.5 <= confidence < 1:
        raise InvalidInput("confidence must be in [0.5, 1)", field="confidence")
    rng = np.random.default_rng(seed)
    n = d.size
    values, counts = _value_counts(d)
    tail = (1 - confidence) / 2 * 100
    if values.size * 32 <= n or values.size <= 16:
        weights = rng.multinomial(n, counts / n, size=resamples)
        means = weights @ values / n
    elif n > NORMAL_ABOVE:
        half = NormalDist().inv_cdf(1 - tail / 100) * float(d.std(ddof=1)) / math.sqrt(n)
        mean = float(d.mean())
        return Interval(
            estimate=mean, low=mean - half, high=mean + half, confidence=confidence, n=n
        )
    else:
        means = np.empty(resamples)
        rows = max(1, _GATHER_CELLS // n)
        for start in range(0, resamples, rows):
            stop = min(resamples, start + rows)
            idx = rng.integers(0, n, size=(stop - start, n))
            means[start:stop] = d[idx].mean(axis=1)
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(
        estimate=float(d.mean()), low=float(low), high=float(high), confidence=confidence, n=n
    )


def _log_factorials(n: int) -> FloatArray:
    out = np.zeros(n + 1)
    if n:
        out[1:] = np.cumsum(np.log(np.arange(1, n + 1, dtype=np.float64)))
    return out


def binomial_two_sided(k: int, n: int) -> float:
    """Exact two-sided p-value of ``k`` successes in ``n`` fair coin flips."""
    if n == 0:
        return 1.0
    low = min(k, n - k)
    logf = _log_factorials(n)
    ks = np.arange(low + 1)
    log_pmf = logf[n] - logf[ks] - logf[n - ks] - n * math.log(2)
    top = float(log_pmf.max())
    tail = math.exp(top) * float(np.exp(log_pmf - top).sum())
    return min(1.0, 2 * tail)


def mcnemar_exact(a_pass: npt.ArrayLike, b_pass: npt.ArrayLike) -> Significance:
    """McNemar's exact test on paired pass/fail outcomes (1/0; NaN rows are dropped).

    Only discordant pairs carry information: ``b`` rows passing only in run A, ``c`` passing
    only in run B; under no difference each is a fair coin flip. The statistic is ``c - b``.
    """
    av, bv = _as_float_array(a_pass, "a_pass"), _as_float_array(b_pass, "b_pass")
    if av.shape != bv.shape:
        raise InvalidInput(
            f"a_pass and b_pass differ in length ({av.size} != {bv.size})", field="b_pass"
        )
    # Counted on the whole columns (NaN compares false): no copy of the kept rows.
    keep = ~(np.isnan(av) | np.isnan(bv))
    a_pass, b_pass, a_fail, b_fail = av == 1, bv == 1, av == 0, bv == 0
    if not ((a_pass | a_fail | ~keep).all() and (b_pass | b_fail | ~keep).all()):
        raise InvalidInput("pass/fail outcomes must be 0 or 1", field="a_pass")
    only_a = int(np.count_nonzero(a_pass & b_fail))
    only_b = int(np.count_nonzero(a_fail & b_pass))
    return Significance(
        test="mcnemar_exact",
        p_value=binomial_two_sided(only_b, only_a + only_b),
        statistic=float(only_b - only_a),
        n=int(np.count_nonzero(keep)),
    )


def _nonzero(d: FloatArray) -> FloatArray:
    r = _rounded(d)
    return np.asarray(r[r != 0], dtype=np.float64)


def permutation_cost(differences: npt.ArrayLike, permutations: int = 10_000) -> int:
    """Random draws a Monte Carlo :func:`permutation_test` needs (0 when it is exact)."""
    d = _nonzero(_as_float_array(differences, "differences"))
    if d.size <= EXACT_MAX:
        return 0
    return permutations * min(d.size, np.unique(np.abs(d)).size)


def permutation_test(
    differences: npt.ArrayLike,
    *,
    permutations: int = 10_000,
    seed: int = 0,
    exact_max: int = EXACT_MAX,
) -> Significance:
    """Paired sign-flip permutation test of ``mean(differences) == 0``.

    Under no difference each per-cluster difference is as likely to have either sign. With at
    most ``exact_max`` non-zero differences all ``2**n`` sign patterns are enumerated (exact);
    otherwise ``permutations`` random patterns give a Monte Carlo p-value ``(1 + hits) / (1 + R)``.
    """
    d = _nonzero(_as_float_array(differences, "differences"))
    if np.isnan(d).any():
        raise InvalidInput("differences contain NaN", field="differences")
    n = d.size
    if n == 0:
        return Significance(test="permutation_exact", p_value=1.0, statistic=0.0, n=0)
    observed = abs(float(d.sum()))
    bar = observed - 1e-9 * max(1.0, observed)
    if n <= exact_max:
        total = 1 << n
        hits = 0
        bits = 1 << np.arange(n, dtype=np.int64)
        rows = max(1, _CHUNK_CELLS // n)
        for start in range(0, total, rows):
            codes = np.arange(start, min(total, start + rows), dtype=np.int64)
            signs = np.where((codes[:, None] & bits) != 0, -1.0, 1.0)
            hits += int(np.sum(np.abs(signs @ d) >= bar))
        return Significance(
            test="permutation_exact", p_value=hits / total, statistic=float(d.sum()), n=n
        )
    if permutations < 100:
        raise InvalidInput("permutations must be at least 100", field="permutations")
    rng = np.random.default_rng(seed)
    magnitudes, counts = np.unique(np.abs(d), return_counts=True)
    if magnitudes.size * 8 <= n:
        # Only how many of each magnitude flip sign matters: a binomial count per magnitude.
        flips = rng.binomial(counts, 0.5, size=(permutations, magnitudes.size))
        stats = np.asarray((2 * flips - counts) @ magnitudes, dtype=np.float64)
    else:
        stats = np.empty(permutations)
        rows = max(1, _CHUNK_CELLS // n)
        for start in range(0, permutations, rows):
            stop = min(permutations, start + rows)
            signs = rng.integers(0, 2, size=(stop - start, n)).astype(np.float64) * 2 - 1
            stats[start:stop] = signs @ d
    hits = int(np.sum(np.abs(stats) >= bar))
    return Significance(
        test="permutation",
        p_value=(1 + hits) / (1 + permutations),
        statistic=float(d.sum()),
        n=n,
    )


def wilcoxon_test(differences: npt.ArrayLike, *, correction: bool = False) -> Significance:
    """Wilcoxon signed-rank test with the normal approximation.

    Zero differences are dropped, tied magnitudes get their average rank and the variance is
    corrected for ties. The statistic is ``W+``, the rank sum of the positive differences.
    """
    d = _nonzero(_as_float_array(differences, "differences"))
    if np.isnan(d).any():
        raise InvalidInput("differences contain NaN", field="differences")
    n = d.size
    if n == 0:
        return Significance(test="wilcoxon", p_value=1.0, statistic=0.0, n=0)
    _, inverse, ties = np.unique(np.abs(d), return_inverse=True, return_counts=True)
    starts = np.cumsum(ties) - ties
    ranks = (starts + (ties + 1) / 2)[inverse]
    w_plus = float(ranks[d > 0].sum())
    mean = n * (n + 1) / 4
    var = n * (n + 1) * (2 * n + 1) / 24 - float(np.sum(ties**3 - ties)) / 48
    if var <= 0:
        return Significance(test="wilcoxon", p_value=1.0, statistic=w_plus, n=n)
    gap = abs(w_plus - mean)
    if correction:
        gap = max(0.0, gap - 0.5)
    z = gap / math.sqrt(var)
    return Significance(test="wilcoxon", p_value=math.erfc(z / math.sqrt(2)), statistic=w_plus, n=n)


def verdict(
    interval: Interval,
    test: Significance,
    *,
    direction: Direction = "higher",
    alpha: float = 0.05,
) -> Verdict:
    """*better*/*worse* only when the test rejects at ``alpha`` and the interval excludes zero.

    Requiring both keeps the two answers from contradicting each other; the sign of the
    estimate, read through ``direction`` (is a higher score better?), decides which way.
    """
    if not 0 < alpha < 1:
        raise InvalidInput("alpha must be between 0 and 1", field="alpha")
    if direction not in ("higher", "lower"):
        raise InvalidInput(f"direction must be 'higher' or 'lower', not {direction!r}")
    excludes_zero = interval.low > 0 or interval.high < 0
    if test.p_value >= alpha or not excludes_zero:
        return Verdict.inconclusive
    up = interval.estimate > 0
    return Verdict.better if up == (direction == "higher") else Verdict.worse
