"""Non-inferiority, equivalence and multiplicity: seeded simulations and reference values.

Type-I error is measured exactly at the margin (the least favourable null): over thousands of
simulated comparisons the test must reject at its nominal 5 %. Power away from the margin
must match the normal (Tango) or noncentral-t (paired t) prediction.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from assay.analysis import compare_runs
from assay.analysis.margins import margin_test, t_upper_tail, tango_interval, tango_z
from assay.analysis.multitest import adjust, benjamini_hochberg, holm
from assay.domain import MarginVerdict
from tests.unit.analysis_support import frame

SIMS = 4000
ALPHA = 0.05
Z = stats.norm.ppf(1 - ALPHA)


def _paired_counts(rng: np.random.Generator, n: int, only_a: float, only_b: float, sims: int):
    """Per simulation: items passing in A only, in B only (multinomial over the 4 cells)."""
    cells = rng.multinomial(n, [only_a, only_b, 1 - only_a - only_b], size=sims)
    return cells[:, 0], cells[:, 1]


def _reference_tango_z(only_a: int, only_b: int, n: int, delta0: float) -> float:
    """Tango's statistic from its definition: maximise the likelihood of the paired table
    numerically under ``p_B - p_A = delta0``, then standardise ``only_b - only_a``."""
    from scipy import optimize

    rest = n - only_a - only_b
    low, high = max(0.0, -delta0), (1 - delta0) / 2  # P(A only) keeps every cell >= 0

    def minus_loglik(q: float) -> float:
        cells = (q, q + delta0, 1 - 2 * q - delta0)
        return -sum(
            k * math.log(max(p, 1e-300)) for k, p in zip((only_a, only_b, rest), cells, strict=True)
        )

    q = optimize.minimize_scalar(
        minus_loglik, bounds=(low, high), method="bounded", options={"xatol": 1e-13}
    ).x
    return (only_b - only_a - n * delta0) / math.sqrt(n * (2 * q + delta0 * (1 - delta0)))


@pytest.mark.parametrize(
    ("only_a", "only_b", "n"), [(1, 5, 44), (7, 1, 21), (20, 40, 160), (12, 9, 300), (0, 3, 50)]
)
def test_tango_matches_its_definition(only_a: int, only_b: int, n: int) -> None:
    from scipy import optimize

    for delta0 in (-0.3, -0.05, 0.0, 0.02, 0.2):
        assert float(tango_z(only_a, only_b, n, delta0)) == pytest.approx(
            _reference_tango_z(only_a, only_b, n, delta0), rel=1e-5, abs=1e-6
        )
    low, high = tango_interval(only_a, only_b, n, 0.95)
    z = stats.norm.ppf(0.975)
    estimate = (only_b - only_a) / n
    ref_low = optimize.brentq(
        lambda d: _reference_tango_z(only_a, only_b, n, d) - z, -0.999, estimate
    )
    ref_high = optimize.brentq(
        lambda d: _reference_tango_z(only_a, only_b, n, d) + z, estimate, 0.999
    )
    assert (low, high) == pytest.approx((ref_low, ref_high), abs=1e-6)
    assert low < estimate < high


def test_tango_non_inferiority_keeps_type_one_error_at_the_margin() -> None:
    rng = np.random.default_rng(7)
    margin, n = 0.02, 400
    # B passes 2 points less often than A: exactly at the margin.
    only_a, only_b = _paired_counts(rng, n, 0.07, 0.05, SIMS)
    z = tango_z(only_a, only_b, n, -margin)
    rate = float(np.mean(z > Z))
    assert rate == pytest.approx(ALPHA, abs=0.015)
    # The product path agrees with the vectorised statistic on a sample of the same draws.
    for k in range(50):
        a = np.r_[np.ones(only_a[k]), np.zeros(only_b[k]), np.ones(n - only_a[k] - only_b[k])]
        b = np.r_[np.zeros(only_a[k]), np.ones(only_b[k]), np.ones(n - only_a[k] - only_b[k])]
        got = margin_test(a, b, b - a, kind="pass_fail", margin=margin)
        assert got.method == "tango_score"
        assert (got.non_inferiority is MarginVerdict.non_inferior) == bool(z[k] > Z)
        assert got.ci_low is not None
        assert (got.ci_low > -margin) == bool(z[k] > Z)


def test_tango_power_away_from_the_margin_is_as_predicted() -> None:
    rng = np.random.default_rng(11)
    margin, n, p10, p01 = 0.05, 300, 0.06, 0.06  # no true difference
    only_a, only_b = _paired_counts(rng, n, p10, p01, SIMS)
    seen = float(np.mean(tango_z(only_a, only_b, n, -margin) > Z))
    sd = math.sqrt(p10 + p01)
    predicted = stats.norm.cdf(margin * math.sqrt(n) / sd - Z)
    assert 0.5 < predicted < 0.95
    assert seen == pytest.approx(predicted, abs=0.03)


def _paired_t_rejections(rng: np.random.Generator, delta: float, margin: float, n: int):
    item = rng.normal(0, 2, (SIMS, n))  # items differ in difficulty: pairing removes it
    a = item + rng.normal(0, 0.6, (SIMS, n))
    b = item + delta + rng.normal(0, 0.6, (SIMS, n))
    d = b - a
    se = d.std(axis=1, ddof=1) / math.sqrt(n)
    p = t_upper_tail((d.mean(axis=1) + margin) / se, n - 1)
    return a, b, p < ALPHA


def test_paired_t_non_inferiority_keeps_type_one_error_at_the_margin() -> None:
    rng = np.random.default_rng(3)
    a, b, rejected = _paired_t_rejections(rng, -0.3, 0.3, 30)
    assert float(rejected.mean()) == pytest.approx(ALPHA, abs=0.015)
    for k in range(50):
        got = margin_test(a[k], b[k], b[k] - a[k], kind="numeric", margin=0.3)
        assert got.method == "paired_t"
        assert (got.non_inferiority is MarginVerdict.non_inferior) == bool(rejected[k])


def test_paired_t_power_away_from_the_margin_is_as_predicted() -> None:
    rng = np.random.default_rng(5)
    n, margin, sd = 30, 0.3, 0.6 * math.sqrt(2)
    _, _, rejected = _paired_t_rejections(rng, 0.0, margin, n)
    predicted = stats.nct.sf(stats.t.ppf(1 - ALPHA, n - 1), n - 1, margin * math.sqrt(n) / sd)
    assert 0.5 < predicted < 0.95
    assert float(rejected.mean()) == pytest.approx(predicted, abs=0.03)


def test_equivalence_needs_both_sides_and_lower_is_better_flips_the_side() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, 200)
    close = a + rng.normal(0.0, 0.1, 200)
    got = margin_test(a, close, close - a, kind="numeric", margin=0.1)
    assert got.equivalence is MarginVerdict.equivalent
    assert got.non_inferiority is MarginVerdict.non_inferior
    assert got.confidence == pytest.approx(0.9)
    worse = a + 0.2 + rng.normal(0.0, 0.1, 200)  # higher: better when higher, worse when lower
    up = margin_test(a, worse, worse - a, kind="numeric", margin=0.1)
    assert up.non_inferiority is MarginVerdict.non_inferior
    assert up.equivalence is MarginVerdict.not_shown
    down = margin_test(a, worse, worse - a, kind="numeric", margin=0.1, direction="lower")
    assert down.non_inferiority is MarginVerdict.not_shown


def test_margin_input_is_checked() -> None:
    with pytest.raises(Exception, match="margin must be a positive number"):
        margin_test([1.0], [1.0], [0.0], kind="numeric", margin=0)
    runs = [frame("a", np.ones(4)), frame("b", np.ones(4))]
    with pytest.raises(Exception, match="margin of 'passed' must be a positive number"):
        compare_runs(runs, margins={"passed": -1.0})


def test_compare_reads_the_margin_in_points_for_rates_and_units_for_scores() -> None:
    rng = np.random.default_rng(1)
    n = 500
    a_pass = (rng.random(n) < 0.8).astype(float)
    b_pass = a_pass.copy()
    flip = rng.random(n) < 0.04
    b_pass[flip] = 1 - b_pass[flip]
    score_a = rng.normal(5, 1, n)
    score_b = score_a + rng.normal(0, 0.2, n)
    cmp = compare_runs(
        [
            frame("a", a_pass, scores={"s": score_a}),
            frame("b", b_pass, scores={"s": score_b}),
        ],
        margin=5,
        items=False,
    )
    rate = cmp.metric("passed")
    score = cmp.metric("s")
    assert rate is not None
    assert score is not None
    rate_margin, score_margin = rate.contrasts[0].margin, score.contrasts[0].margin
    assert rate_margin is not None
    assert score_margin is not None
    assert rate_margin.margin == pytest.approx(0.05)
    assert rate_margin.method == "tango_score"
    assert rate_margin.non_inferiority is MarginVerdict.non_inferior
    assert score_margin.margin == 5
    assert score_margin.equivalence is MarginVerdict.equivalent


# ---------------------------------------------------------------- multiplicity
@pytest.mark.parametrize(("ours", "theirs"), [(holm, "holm"), (benjamini_hochberg, "fdr_bh")])
def test_adjustments_match_statsmodels(ours, theirs: str) -> None:
    rng = np.random.default_rng(42)
    for size in (1, 2, 3, 5, 10, 40):
        for _ in range(50):
            p = rng.random(size) ** rng.uniform(0.5, 4)
            p[rng.random(size) < 0.2] = p[0]  # ties
            expected = multipletests(p, method=theirs)[1]
            np.testing.assert_allclose(ours(p), expected, rtol=1e-12, atol=1e-15)


def test_adjust_skips_missing_values_and_rejects_bad_ones() -> None:
    assert adjust([0.01, None, 0.04], "holm") == [0.02, None, 0.04]
    assert adjust([0.01, None, 0.04], "none") == [0.01, None, 0.04]
    with pytest.raises(Exception, match="between 0 and 1"):
        holm([0.5, 1.5])
    with pytest.raises(Exception, match="p_adjust must be"):
        adjust([0.5], "bonferroni")  # type: ignore[arg-type]


def test_several_scorers_are_adjusted_and_verdicts_follow_the_adjusted_p() -> None:
    rng = np.random.default_rng(9)
    n = 60
    scores_a = {f"s{i}": rng.normal(0, 1, n) for i in range(5)}
    scores_b = {k: v + rng.normal(0, 1, n) * 0.01 for k, v in scores_a.items()}
    scores_b["s0"] = scores_a["s0"] + 0.03 + rng.normal(0, 0.1, n)  # p a bit below 0.05
    runs = [frame("a", np.ones(n), scores=scores_a), frame("b", np.ones(n), scores=scores_b)]
    raw = compare_runs(runs, p_adjust="none", items=False)
    held = compare_runs(runs, items=False)
    bh = compare_runs(runs, p_adjust="bh", items=False)
    assert held.p_adjust == "holm"
    assert bh.p_adjust == "bh"
    ps = [m.contrasts[0].p_value for m in raw.metrics]
    assert [m.contrasts[0].p_adjusted for m in held.metrics] == pytest.approx(
        list(multipletests(ps, method="holm")[1])
    )
    assert [m.contrasts[0].p_adjusted for m in bh.metrics] == pytest.approx(
        list(multipletests(ps, method="fdr_bh")[1])
    )
    for m_raw, m_held in zip(raw.metrics, held.metrics, strict=True):
        c_raw, c_held = m_raw.contrasts[0], m_held.contrasts[0]
        assert c_held.p_adjusted is not None
        if c_held.p_adjusted >= ALPHA:
            assert c_held.verdict.value == "inconclusive"
        else:
            assert c_held.verdict == c_raw.verdict
    only = compare_runs(runs, adjust_over={"s0"}, items=False)
    s0 = only.metric("s0")
    assert s0 is not None
    assert s0.contrasts[0].p_adjusted == s0.contrasts[0].p_value
