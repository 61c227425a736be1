"""The gate that decides whether a run may ship, under a regression policy.

A :class:`~assay.domain.RegressionPolicy` sets absolute limits on the candidate run (minimum
item count, minimum pass rate, per-scorer thresholds) and relative ones against a baseline run
(maximum allowed drop of the pass rate and of each scorer's mean). A drop larger than allowed blocks
when the comparison calls it *worse*; when the evidence is *inconclusive* it blocks only if
``block_inconclusive`` is set.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from assay.analysis.compare import compare_runs
from assay.analysis.frame import RunFrame
from assay.analysis.gate_items import GateOutcomes, check_only
from assay.domain import (
    GATE_LIMIT,
    PASS_METRIC,
    Agreement,
    Contrast,
    GateCheck,
    GateVerdict,
    OutcomeFilter,
    RegressionPolicy,
    ScorerRule,
    Verdict,
)
from assay.errors import InvalidInput
from assay.formatting import plural


def _mean(run: RunFrame, name: str) -> float | None:
    if name == PASS_METRIC:
        values = run.pass_metric()
    elif name in run.scores:
        values = run.scores[name].metric()[run.finished]
    else:
        return None
    values = values[~np.isnan(values)]
    return float(values.mean()) if values.size else None


def _drop_check(name: str, rule: ScorerRule, allowed: float, c: Contrast, block: bool) -> GateCheck:
    check = f"drop:{name}"
    label = "pass rate" if name == PASS_METRIC else name
    if c.difference is None or c.ci_low is None or c.ci_high is None:
        return GateCheck(
            name=check,
            passed=False,
            limit=allowed,
            message=f"{label}: no items shared with the baseline to compare",
        )
    drop = -c.difference if rule.direction == "higher" else c.difference
    detail = (
        f"{label}: change {c.difference:+.4g} (CI {c.ci_low:+.4g} to {c.ci_high:+.4g}, "
        f"p={c.p_value:.3g}, {c.verdict.value})"
    )
    if drop <= allowed:
        return GateCheck(
            name=check,
            passed=True,
            observed=drop,
            limit=allowed,
            message=f"{detail}; within the allowed drop of {allowed:g}",
        )
    if c.verdict is Verdict.worse:
        return GateCheck(
            name=check,
            passed=False,
            observed=drop,
            limit=allowed,
            message=f"{detail}; significantly worse, beyond the allowed drop of {allowed:g}",
        )
    return GateCheck(
        name=check,
        passed=not block,
        observed=drop,
        limit=allowed,
        message=f"{detail}; drop beyond {allowed:g} is not significant"
        + ("; the policy blocks inconclusive drops" if block else ""),
    )


def _margin_check(
    name: str, kind: str, rule: ScorerRule, c: Contrast | None, scale: float
) -> GateCheck:
    """``non_inferiority:<name>`` or ``equivalence:<name>``: passes only when shown.

    The ``1 - 2 alpha`` interval decides (the tests are its inversions), so a metric with
    both rules is judged against each rule's own margin."""
    margin = rule.non_inferiority if kind == "non_inferiority" else rule.equivalence
    assert margin is not None
    check = f"{kind}:{name}"
    label = "pass rate" if name == PASS_METRIC else name
    what = "non-inferior" if kind == "non_inferiority" else "equivalent"
    test = None if c is None else c.margin
    if test is None or test.ci_low is None or test.ci_high is None:
        return GateCheck(
            name=check,
            passed=False,
            limit=margin.margin,
            message=f"{label}: too few items shared with the baseline to show it {what} "
            f"within {margin.margin * scale:g}",
        )
    m = margin.margin
    low, high = test.ci_low, test.ci_high
    if kind == "equivalence":
        shown = -m < low and high < m
    else:
        shown = low > -m if rule.direction == "higher" else high < m
    p = test.p_non_inferiority if kind == "non_inferiority" else test.p_equivalence
    same = test.margin == m and p is not None
    unit = " pp" if scale == 100 else ""
    detail = (
        f"{label}: {100 * test.confidence:.0f}% CI {low * scale:+.4g} to {high * scale:+.4g}"
        f"{unit}, margin {m * scale:g}{unit}" + (f", p={p:.3g}" if same else "")
    )
    worst = -low if rule.direction == "higher" else high
    return GateCheck(
        name=check,
        passed=shown,
        observed=max(-low, high) if kind == "equivalence" else worst,
        limit=m,
        message=f"{detail}; {what}" if shown else f"{detail}; {what} not shown",
    )


def evaluate_gate(
    candidate: RunFrame,
    baseline: RunFrame | None,
    policy: RegressionPolicy | None = None,
    *,
    seed: int = 0,
    agreements: Mapping[str, Agreement | None] | None = None,
    outcomes: bool = True,
    limit: int | None = GATE_LIMIT,
    only: OutcomeFilter = "all",
) -> GateVerdict:
    """Check ``candidate`` against ``policy`` and, when given, against ``baseline``.

    ``agreements`` holds, per scorer of the policy, its judge's agreement with human scores
    (None: no result has both), for the ``min_judge_agreement`` checks. The verdict lists the
    first ``limit`` outcomes (``only="failing"``: of those that did not pass) and regressions
    (None: all of them) and counts them all; it yields every one on demand
    (:meth:`GateVerdict.iter_items` and the like), made from the frames a chunk at a time.
    ``outcomes=False`` lists none (the checks do not use them)."""
    if limit is not None and limit < 0:
        raise InvalidInput(f"limit must be at least 0, not {limit}", field="limit")
    check_only(only)
    policy = policy or RegressionPolicy()
    checks: list[GateCheck] = []
    done = candidate.finished
    finished_items = (
        np.unique(candidate.item_ids[done]).size if candidate.repeated else int(done.sum())
    )
    checks.append(
        GateCheck(
            name="min_items",
            passed=finished_items >= policy.min_items,
            observed=finished_items,
            limit=policy.min_items,
            message=f"{plural(finished_items, 'item')} finished; "
            f"at least {policy.min_items} required",
        )
    )
    metrics = list(dict.fromkeys([PASS_METRIC, *policy.scorers]))
    means = {name: _mean(candidate, name) for name in [PASS_METRIC, *candidate.scores]}
    means.update({name: _mean(candidate, name) for name in policy.scorers})
    if policy.min_pass_rate is not None:
        rate = means[PASS_METRIC]
        checks.append(
            GateCheck(
                name="min_pass_rate",
                passed=rate is not None and rate >= policy.min_pass_rate,
                observed=rate,
                limit=policy.min_pass_rate,
                message=f"pass rate {_pct(rate)}; at least {_pct(policy.min_pass_rate)} required",
            )
        )
    for name, rule in policy.scorers.items():
        if rule.threshold is None:
            continue
        mean = means[name]
        bound = "at least" if rule.direction == "higher" else "at most"
        ok = mean is not None and (
            mean >= rule.threshold if rule.direction == "higher" else mean <= rule.threshold
        )
        shown = "no scores" if mean is None else f"mean {mean:.4g}"
        checks.append(
            GateCheck(
                name=f"threshold:{name}",
                passed=ok,
                observed=mean,
                limit=rule.threshold,
                message=f"{name}: {shown}; {bound} {rule.threshold:g} required",
            )
        )
    comparison = None
    if baseline is not None:
        directions = {name: rule.direction for name, rule in policy.scorers.items()}
        rules = {PASS_METRIC: ScorerRule(non_inferiority=policy.non_inferiority), **policy.scorers}
        comparison = compare_runs(
            [baseline, candidate],
            directions=directions,
            alpha=policy.alpha,
            seed=seed,
            items=False,
            margins=_margins(rules),
            p_adjust=policy.p_adjust,
            adjust_over=set(metrics),
        )
        for name in metrics:
            rule = rules[name]
            allowed = rule.max_drop if rule.max_drop is not None else policy.max_drop
            metric = comparison.metric(name)
            if allowed is None:
                continue
            if metric is None:
                checks.append(
                    GateCheck(
                        name=f"drop:{name}",
                        passed=False,
                        limit=allowed,
                        message=f"{name}: no scores in either run to compare",
                    )
                )
                continue
            contrast = metric.contrasts[0]
            checks.append(_drop_check(name, rule, allowed, contrast, policy.block_inconclusive))
        for name in metrics:
            rule = rules[name]
            metric = comparison.metric(name)
            scale = 100.0 if metric is not None and metric.kind == "pass_fail" else 1.0
            shared = metric.contrasts[0] if metric is not None else None
            if rule.non_inferiority is not None:
                checks.append(_margin_check(name, "non_inferiority", rule, shared, scale))
            if rule.equivalence is not None:
                checks.append(_margin_check(name, "equivalence", rule, shared, scale))
    if baseline is None:
        checks += _no_baseline_margin_checks(policy)
    checks += _agreement_checks(policy, agreements or {})
    reasons = [c.message for c in checks if not c.passed]
    found = GateOutcomes(candidate, baseline)
    listed = 0 if not outcomes else limit
    return GateVerdict(
        passed=not reasons,
        run_id=candidate.run_id,
        run_name=candidate.name,
        baseline_id=baseline.run_id if baseline is not None else None,
        baseline_name=baseline.name if baseline is not None else None,
        reasons=reasons,
        checks=checks,
        means=means,
        comparison=comparison,
        items=list(found.failing(0, listed) if only == "failing" else found.items(0, listed)),
        items_only=only,
        items_total=found.total,
        items_failing=found.failing_total,
        regressions=list(found.regressions(0, listed)),
        regressions_total=found.regressions_total,
        policy=policy,
        target_cost=_spent(candidate.cost),
        judge_cost=_spent(candidate.judge_cost),
    ).with_outcomes(found)


def _spent(column: npt.NDArray[np.float64]) -> float | None:
    """The sum of a cost column, None when no row recorded a cost."""
    known = column[~np.isnan(column)]
    return float(known.sum()) if known.size else None


def _agreement_checks(
    policy: RegressionPolicy, agreements: Mapping[str, Agreement | None]
) -> list[GateCheck]:
    """``judge_agreement:<scorer>``: the gate relies on a judge only when it agrees with
    human scores at least as well as the policy asks."""
    checks = []
    for name, rule in policy.scorers.items():
        limit = (
            rule.min_judge_agreement
            if rule.min_judge_agreement is not None
            else policy.min_judge_agreement
        )
        if limit is None:
            continue
        found = agreements.get(name)
        statistic, value = (None, None) if found is None else found.statistic
        if found is None or value is None:
            why = (
                "no result has both a judge and a human score"
                if found is None
                else f"agreement is undefined on {found.n} paired scores"
            )
            checks.append(
                GateCheck(
                    name=f"judge_agreement:{name}",
                    passed=False,
                    limit=limit,
                    message=f"{name}: {why}; the gate does not rely on a judge whose agreement "
                    f"with humans is unknown (min_judge_agreement {limit:g})",
                )
            )
            continue
        label = "Cohen's kappa" if statistic == "cohen_kappa" else "Spearman's rho"
        ok = value >= limit
        version = "" if found.version is None else f" (evaluator version {found.version})"
        checks.append(
            GateCheck(
                name=f"judge_agreement:{name}",
                passed=ok,
                observed=value,
                limit=limit,
                message=f"{name}{version}: {label} {value:.3f} with human scores over "
                f"{found.n} results; "
                + (
                    f"at least {limit:g} required"
                    if ok
                    else f"below {limit:g}, the gate does not rely on this judge"
                ),
            )
        )
    return checks


def _no_baseline_margin_checks(policy: RegressionPolicy) -> list[GateCheck]:
    """A margin rule cannot be met without a baseline to be within the margin of."""
    rules = {PASS_METRIC: ScorerRule(non_inferiority=policy.non_inferiority), **policy.scorers}
    return [
        GateCheck(
            name=f"{kind}:{name}",
            passed=False,
            limit=margin.margin,
            message=f"{name}: {kind.replace('_', '-')} needs a baseline run to compare with",
        )
        for name, rule in rules.items()
        for kind, margin in (
            ("non_inferiority", rule.non_inferiority),
            ("equivalence", rule.equivalence),
        )
        if margin is not None
    ]


def _margins(rules: dict[str, ScorerRule]) -> dict[str, float]:
    """The margin each metric is tested with: the smaller of its two rules' margins, so the
    interval of a non-inferiority and an equivalence rule is the same."""
    out: dict[str, float] = {}
    for name, rule in rules.items():
        given = [r.margin for r in (rule.non_inferiority, rule.equivalence) if r is not None]
        if given:
            out[name] = min(given)
    return out


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


__all__ = ["evaluate_gate"]
