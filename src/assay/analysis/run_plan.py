"""Plan the next run of a dataset from its history: what it can detect, costs and takes.

Variance components, per metric (the pass rate and every scorer), from the dataset's last
finished runs (or one pilot run):

- ``within`` (sigma_w^2): the variance of one trial's outcome around its item's mean, pooled
  over the items of runs with repeated trials (0 when no run repeated an item: trial noise
  then stays inside ``tau2``);
- ``tau2``: the between-item variance of the paired difference between two systems. From
  consecutive runs with different configurations: ``Var(m_a - m_b) - within * (1/k_a +
  1/k_b)`` over their common items (``m``: an item's mean over its ``k`` trials), averaged
  over the pairs; from a single run: ``2 * sigma_b^2`` (the item variance of one system,
  doubled: two uncorrelated systems, a conservative choice).

:mod:`assay.analysis.planning` turns them into a minimum detectable difference, the items or
trials needed and the power. Cost is tokens per call (from the newest run or the pilot) times
the price of the chosen model, or the cost per call recorded, plus the judge cost per call
recorded on LLM-judge scores; time is calls x (target latency + judge time) / concurrency.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from assay.analysis import planning
from assay.analysis.frame import RunFrame
from assay.analysis.item_keys import IdArray
from assay.analysis.service import frame_of
from assay.domain import (
    PASS_METRIC,
    CostEstimate,
    Experiment,
    ExperimentStatus,
    MetricPlan,
    RunPlan,
    TimeEstimate,
)
from assay.domain.comparison import MetricKind
from assay.domain.planning import VarianceSource
from assay.errors import InvalidInput
from assay.store import Store
from assay.targets.pricing import Price, PriceTable

FloatArray = npt.NDArray[np.float64]
_HISTORY = 20


@dataclass(frozen=True, slots=True)
class ItemMeans:
    """One run's per-item means of a metric, with trial counts and within-item variances."""

    ids: IdArray
    means: FloatArray
    counts: FloatArray
    variances: FloatArray  # NaN for items with one trial


def item_means(run: RunFrame, metric: str) -> ItemMeans | None:
    """Per-item means of ``metric`` over the run's finished trials (None: no such metric)."""
    if metric == PASS_METRIC:
        values = run.pass_metric()
    elif metric in run.scores:
        values = run.scores[metric].metric()
    else:
        return None
    keep = ~np.isnan(values)
    if not keep.any():
        return None
    ids, inverse, counts = np.unique(run.item_ids[keep], return_inverse=True, return_counts=True)
    x = values[keep]
    sums = np.bincount(inverse, weights=x)
    means = sums / counts
    squares = np.bincount(inverse, weights=(x - means[inverse]) ** 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        variances = np.where(counts > 1, squares / (counts - 1), np.nan)
    return ItemMeans(ids, means, counts.astype(np.float64), variances)


def pooled_within(runs: Sequence[ItemMeans]) -> float | None:
    """Within-item trial variance pooled over every repeated item (None: nothing repeated)."""
    found = [r.variances[~np.isnan(r.variances)] for r in runs]
    values = np.concatenate(found) if found else np.empty(0)
    return float(values.mean()) if values.size else None


def pair_tau2(a: ItemMeans, b: ItemMeans, within: float) -> float | None:
    """Between-item variance of the difference of two runs over their common items."""
    common, ia, ib = np.intersect1d(a.ids, b.ids, assume_unique=True, return_indices=True)
    if common.size < 2:
        return None
    d = a.means[ia] - b.means[ib]
    noise = within * float(np.mean(1 / a.counts[ia] + 1 / b.counts[ib]))
    return max(0.0, float(np.var(d, ddof=1)) - noise)


def single_tau2(run: ItemMeans, within: float) -> float:
    """Twice the between-item variance of one system (two uncorrelated systems)."""
    if run.means.size < 2:
        return 0.0
    between = float(np.var(run.means, ddof=1)) - within * float(np.mean(1 / run.counts))
    return 2 * max(0.0, between)


def _kind(frames: Sequence[RunFrame], metric: str) -> MetricKind:
    if metric == PASS_METRIC:
        return "pass_fail"
    for f in frames:
        if metric in f.scores:
            return "pass_fail" if f.scores[metric].is_pass_fail else "numeric"
    return "numeric"


def price_of(prices: PriceTable, model: str) -> tuple[str, Price]:
    """``provider:model`` (or a model any provider prices) and its price."""
    provider, _, name = model.rpartition(":")
    candidates = [provider] if provider else list(prices.table)
    for p in candidates:
        found = prices.price(p, name)
        if found is not None:
            return f"{p}:{name}", found
    raise InvalidInput(
        f"no price for model {model!r} in the price table; give provider:model "
        "(e.g. openai:gpt-4o-mini) or add it with ASSAY_PRICE_TABLE",
        field="model",
    )


def history(store: Store, dataset_id: str, limit: int = _HISTORY) -> list[Experiment]:
    """The dataset's last finished, not cancelled runs, newest first."""
    runs: list[Experiment] = []
    cursor = None
    while len(runs) < limit:
        page = store.experiments.list(dataset=dataset_id, limit=100, cursor=cursor)
        runs += [
            e
            for e in page.items
            if e.status.finished and e.status is not ExperimentStatus.cancelled
        ]
        cursor = page.next_cursor
        if cursor is None:
            break
    return runs[:limit]


def _metric_plan(
    metric: str,
    frames: Sequence[RunFrame],
    runs: Sequence[Experiment],
    pilot: bool,
    items: int,
    trials: int,
    difference: float | None,
    alpha: float,
    power: float,
) -> MetricPlan | None:
    means = [item_means(f, metric) for f in frames]
    present = [(m, e) for m, e in zip(means, runs, strict=True) if m is not None]
    if not present:
        return None
    within = pooled_within([m for m, _ in present]) or 0.0
    estimates = []
    ordered = present[::-1]  # oldest first: each run against the one before it
    for (older, old_run), (newer, new_run) in itertools.pairwise(ordered):
        if old_run.config_hash is not None and old_run.config_hash == new_run.config_hash:
            continue
        tau = pair_tau2(newer, older, within)
        if tau is not None:
            estimates.append(tau)
    source: VarianceSource
    if estimates:
        tau2, source = float(np.mean(estimates)), "run_pairs"
    else:
        tau2 = single_tau2(present[0][0], within)
        source = "pilot" if pilot else "single_run"
    kind = _kind(frames, metric)
    variance = planning.difference_variance(tau2, within, trials)
    delta = None if difference is None else difference / 100 if kind == "pass_fail" else difference
    needed_items = needed_trials = None
    achieved = None
    if delta is not None and variance > 0:
        needed_items = planning.items_needed(variance, delta, alpha=alpha, power=power)
        needed_trials = planning.trials_needed(tau2, within, items, delta, alpha=alpha, power=power)
        achieved = planning.predicted_power(variance, items, delta, alpha=alpha)
    elif delta is not None:  # no variance seen: any difference shows
        needed_items, needed_trials, achieved = 2, 1, 1.0
    return MetricPlan(
        metric=metric,
        kind=kind,
        tau2=tau2,
        within=within,
        variance=variance,
        source=source,
        pairs=len(estimates),
        detectable=planning.minimum_detectable_difference(
            variance, items, alpha=alpha, power=power
        ),
        items_needed=needed_items,
        trials_needed=needed_trials,
        power=achieved,
    )


def _estimates(
    store: Store,
    source: Experiment,
    calls: int,
    concurrency: int,
    model: str | None,
    prices: PriceTable | None,
    per_item_calls: int,
) -> tuple[CostEstimate, TimeEstimate]:
    summary = store.experiments.summary(source.id)
    ran = summary.completed + summary.failed
    tin = summary.tokens_in / ran if ran else None
    tout = summary.tokens_out / ran if ran else None
    judge_per_call = summary.judge_cost / ran if ran else 0.0
    judge_ms = summary.judge_latency_ms / ran if ran else 0.0
    priced: str | None = None
    if model is not None:
        priced, price = price_of(prices or PriceTable.load(), model)
        per_call = (
            None
            if tin is None
            else ((tin * price.input) + (tout or 0.0) * price.output) / 1_000_000
        )
    else:
        per_call = summary.avg_cost
    target = None if per_call is None else per_call * calls
    judge = judge_per_call * calls
    cost = CostEstimate(
        basis="price_table" if model is not None else "observed",
        model=priced,
        tokens_in_per_call=tin,
        tokens_out_per_call=tout,
        target_cost=target,
        judge_cost=judge,
        total_cost=None if target is None else target + judge,
        per_item=None if per_call is None else (per_call + judge_per_call) * per_item_calls,
    )
    latency = summary.avg_latency_ms
    seconds = None if latency is None else calls * (latency + judge_ms) / 1000 / max(1, concurrency)
    return cost, TimeEstimate(
        concurrency=concurrency,
        target_ms_per_call=latency,
        judge_ms_per_call=judge_ms,
        seconds=seconds,
    )


def plan_run(
    store: Store,
    dataset: str,
    *,
    pilot: str | None = None,
    items: int | None = None,
    trials: int | None = None,
    difference: float | None = None,
    alpha: float = 0.05,
    power: float = 0.8,
    model: str | None = None,
    concurrency: int | None = None,
    prices: PriceTable | None = None,
    metrics: Sequence[str] | None = None,
) -> RunPlan:
    """The plan of the next run of ``dataset`` (``items`` x ``trials``; defaults: the
    dataset's items and the newest run's trials), from its finished runs or from ``pilot``.

    ``difference`` is the difference to detect: points for pass rates (2 = two points), the
    scorer's units for numeric scores. ``model`` (``provider:model``) prices the calls from
    the price table; without it the cost per call recorded is used.
    """
    found = store.datasets.get(dataset)
    for name, value, low in (
        ("items", items, 2),
        ("trials", trials, 1),
        ("concurrency", concurrency, 1),
    ):
        if value is not None and value < low:
            raise InvalidInput(f"{name} must be at least {low}", field=name)
    if difference is not None and (not np.isfinite(difference) or difference <= 0):
        raise InvalidInput("difference must be a positive number", field="difference")
    notes: list[str] = []
    if pilot is not None:
        run = store.experiments.get(pilot)
        if not run.status.finished or run.status is ExperimentStatus.cancelled:
            raise InvalidInput(
                f"pilot run {run.name!r} has not finished (status {run.status.value})",
                field="pilot",
            )
        if run.dataset_id != found.id:
            notes.append(f"the pilot run {run.name!r} ran on another dataset")
        runs = [run]
    else:
        runs = history(store, found.id)
        if not runs:
            raise InvalidInput(
                f"no completed run of dataset {found.name!r}; pass --pilot RUN (a run id) "
                "to plan from a pilot run",
                field="pilot",
            )
    newest = runs[0]
    n = items if items is not None else max(2, found.item_count)
    k = trials if trials is not None else newest.trials
    c = concurrency if concurrency is not None else newest.concurrency
    frames = [frame_of(store, e, outputs=False) for e in runs]
    names = [PASS_METRIC, *sorted({s for f in frames for s in f.scores})]
    if metrics is not None:
        unknown = [m for m in metrics if m not in names]
        if unknown:
            raise InvalidInput(
                f"unknown metric {unknown[0]!r}; the runs have {', '.join(names)}",
                field="metric",
            )
        names = list(metrics)
    plans = [
        p
        for m in names
        if (p := _metric_plan(m, frames, runs, pilot is not None, n, k, difference, alpha, power))
        is not None
    ]
    if plans and all(p.within == 0 for p in plans) and not any(f.repeated for f in frames):
        notes.append(
            "no run repeated an item: trial noise is not separated from item differences, "
            "so more trials are not predicted to help"
        )
    if plans and all(p.source != "run_pairs" for p in plans):
        notes.append(
            "one run only: the variance of a difference assumes two uncorrelated systems "
            "(conservative; it shrinks once two differently configured runs exist)"
        )
    flat = [p.metric for p in plans if p.variance == 0]
    if flat:
        notes.append(
            f"no variation in {', '.join(flat)}: each item had one outcome in every run, so "
            "a detectable difference of 0 says nothing"
        )
    cost, time = _estimates(store, newest, n * k, c, model, prices, k)
    return RunPlan(
        dataset=found.name,
        items=n,
        trials=k,
        alpha=alpha,
        power=power,
        difference=difference,
        runs=[e.id for e in runs],
        pilot=pilot and runs[0].id,
        metrics=plans,
        cost=cost,
        time=time,
        notes=notes,
    )
