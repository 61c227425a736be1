"""Regression policy and the gate that decides whether a run may ship.

A :class:`RegressionPolicy` sets absolute limits on the candidate run (minimum item count,
minimum pass rate, per-scorer thresholds) and relative ones against a baseline run (maximum
allowed drop of the pass rate and of each scorer's mean). A drop larger than allowed blocks
when the comparison calls it *worse*; when the evidence is *inconclusive* it blocks only if
``block_inconclusive`` is set.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assay.analysis.compare import compare_runs
from assay.analysis.frame import STATUSES, RunFrame, align
from assay.analysis.items import paused_gc
from assay.analysis.models import PASS_METRIC, Comparison, Contrast
from assay.analysis.stats import Direction, Verdict
from assay.errors import InvalidInput
from assay.formatting import plural


class ScorerRule(BaseModel):
    """Limits for one scorer's mean (the pass rate, for pass/fail scorers)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    direction: Direction = "higher"
    threshold: float | None = Field(
        default=None,
        description="The candidate's mean must be at least this (at most, when lower is better).",
    )
    max_drop: float | None = Field(
        default=None, ge=0, description="Overrides the policy's max_drop for this scorer."
    )


class RegressionPolicy(BaseModel):
    """What a run must satisfy to pass the gate. Load one with :meth:`parse`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scorers: dict[str, ScorerRule] = Field(default_factory=dict)
    min_pass_rate: float | None = Field(default=None, ge=0, le=1)
    max_drop: float | None = Field(
        default=0.0,
        ge=0,
        description="Largest allowed fall of the pass rate and of scorer means versus the "
        "baseline, in the metric's own units (0.02 = two points of pass rate). "
        "None: no comparison with the baseline.",
    )
    block_inconclusive: bool = Field(
        default=False,
        description="Block a drop larger than allowed even when it is not significant.",
    )
    min_items: int = Field(default=1, ge=0)
    alpha: float = Field(default=0.05, gt=0, lt=1)
    baseline: str | None = Field(
        default=None, description="Default baseline: a pinned run (id or name)."
    )
    baseline_tag: str | None = Field(
        default=None,
        description="Default baseline: the latest finished run on the dataset with this run tag.",
    )

    @classmethod
    def parse(cls, data: Mapping[str, Any] | str, *, source: str = "policy") -> RegressionPolicy:
        """A policy from a dict or from YAML/JSON text; errors name the field at fault."""
        if isinstance(data, str):
            try:
                data = yaml.safe_load(data) or {}
            except yaml.YAMLError as exc:
                raise InvalidInput(f"{source} is not valid YAML or JSON: {exc}") from None
        if not isinstance(data, Mapping):
            raise InvalidInput(f"{source} must be a mapping of settings")
        try:
            return cls.model_validate(dict(data))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InvalidInput(
                f"{source}: {where}: {first['msg']}", field=where, errors=len(exc.errors())
            ) from None


class GateCheck(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    passed: bool
    observed: float | None = None
    limit: float | None = None
    message: str


class ItemOutcome(BaseModel):
    """One (item, repetition) of the candidate: one test case in the JUnit report."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    repetition: int
    status: str
    passed: bool
    error: str | None = None
    failing_scores: list[str] = Field(default_factory=list)
    latency_ms: float | None = None
    regressed: bool = Field(default=False, description="Passed in the baseline, fails now.")


class ItemRegression(BaseModel):
    """One item that passed in the baseline and fails now, listed once however many trials."""

    model_config = ConfigDict(frozen=True)

    item_id: str
    regressed: int = Field(description="Trials that passed in the baseline and fail now.")
    trials: int = Field(description="Trials of the item compared with the baseline.")

    @property
    def detail(self) -> str:
        """``"2 of 3 trials"``; empty for an item run once."""
        return "" if self.trials <= 1 else f"{self.regressed} of {self.trials} trials"


class GateVerdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    passed: bool
    run_id: str
    run_name: str
    baseline_id: str | None
    baseline_name: str | None
    reasons: list[str] = Field(description="Why the gate failed; empty when it passed.")
    checks: list[GateCheck]
    means: dict[str, float | None] = Field(description="The candidate's mean per metric.")
    comparison: Comparison | None = Field(description="Against the baseline, statistics only.")
    items: list[ItemOutcome] = Field(description="One per (item, repetition) of the candidate.")
    regressions: list[ItemRegression] = Field(
        default_factory=list,
        description="Items that passed in the baseline and fail now, once each (in run order), "
        "with how many of their compared trials regressed.",
    )
    policy: RegressionPolicy


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


def _items(candidate: RunFrame, baseline: RunFrame | None) -> list[ItemOutcome]:
    ok = candidate.pass_metric() == 1.0
    regressed = np.zeros(len(candidate), dtype=np.bool_)
    if baseline is not None:
        rows_b, rows_c = align(baseline, candidate)
        regressed[rows_c] = baseline.pass_metric()[rows_b] == 1.0
        regressed &= ~ok
    status = np.array([s.value for s in STATUSES], dtype=object)[candidate.status].tolist()
    latency = [None if math.isnan(v) else v for v in candidate.latency_ms.tolist()]
    failing: list[list[str]] = [[] for _ in range(len(candidate))]
    for name, col in candidate.scores.items():
        for row in np.flatnonzero(col.passed == 0.0).tolist():
            failing[row].append(name)
    errors = candidate.errors or [None] * len(candidate)
    keys = candidate.keys()
    with paused_gc():
        return [
            ItemOutcome(
                item_id=key[0],
                repetition=key[1],
                status=status[row],
                passed=passed,
                error=errors[row],
                failing_scores=failing[row],
                latency_ms=latency[row],
                regressed=worse,
            )
            for row, (key, passed, worse) in enumerate(
                zip(keys, ok.tolist(), regressed.tolist(), strict=True)
            )
        ]


def _regressions(
    candidate: RunFrame, baseline: RunFrame | None, items: list[ItemOutcome]
) -> list[ItemRegression]:
    if baseline is None:
        return []
    compared: dict[str, int] = {}
    _, rows_c = align(baseline, candidate)
    for item_id in candidate.item_ids[rows_c].tolist():
        compared[item_id] = compared.get(item_id, 0) + 1
    regressed: dict[str, int] = {}
    for item in items:
        if item.regressed:
            regressed[item.item_id] = regressed.get(item.item_id, 0) + 1
    return [
        ItemRegression(item_id=item_id, regressed=count, trials=compared[item_id])
        for item_id, count in regressed.items()
    ]


def evaluate_gate(
    candidate: RunFrame,
    baseline: RunFrame | None,
    policy: RegressionPolicy | None = None,
    *,
    seed: int = 0,
) -> GateVerdict:
    """Check ``candidate`` against ``policy`` and, when given, against ``baseline``."""
    policy = policy or RegressionPolicy()
    checks: list[GateCheck] = []
    finished_items = len(set(candidate.item_ids[candidate.finished].tolist()))
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
        comparison = compare_runs(
            [baseline, candidate],
            directions=directions,
            alpha=policy.alpha,
            seed=seed,
            items=False,
        )
        rules = {PASS_METRIC: ScorerRule(), **policy.scorers}
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
    reasons = [c.message for c in checks if not c.passed]
    items = _items(candidate, baseline)
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
        items=items,
        regressions=_regressions(candidate, baseline, items),
        policy=policy,
    )


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


__all__ = [
    "GateCheck",
    "GateVerdict",
    "ItemOutcome",
    "ItemRegression",
    "RegressionPolicy",
    "ScorerRule",
    "evaluate_gate",
]
