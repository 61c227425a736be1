"""Analytics over a dataset's runs: trend series, score histograms and dataset health."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from assay.analysis.frame import FAILED, FloatArray, RunFrame
from assay.errors import InvalidInput


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class TrendPoint(_Model):
    """One run's headline figures; a list of them, in run order, is a trend series."""

    run_id: str
    name: str
    results: int
    finished: int
    pass_rate: float | None
    error_rate: float | None = Field(description="Failed results (target errors) / finished.")
    scores: dict[str, float | None] = Field(description="Mean of each scorer over its rows.")
    cost: float | None = Field(description="Total target cost.")
    judge_cost: float | None = Field(description="Total scorer (judge) cost.")
    latency_p50: float | None
    latency_p95: float | None


def _nanmean(values: FloatArray) -> float | None:
    v = values[~np.isnan(values)]
    return float(v.mean()) if v.size else None


def _nansum(values: FloatArray) -> float | None:
    v = values[~np.isnan(values)]
    return float(v.sum()) if v.size else None


def trend(runs: Sequence[RunFrame]) -> list[TrendPoint]:
    """Per-run pass rate, mean scores, cost, latency p50/p95 and error rate, in the given order."""
    points: list[TrendPoint] = []
    for run in runs:
        done = run.finished
        finished = int(done.sum())
        latency = run.latency_ms[done]
        latency = latency[~np.isnan(latency)]
        p50, p95 = np.percentile(latency, [50, 95]) if latency.size else (None, None)
        points.append(
            TrendPoint(
                run_id=run.run_id,
                name=run.name,
                results=len(run),
                finished=finished,
                pass_rate=_nanmean(run.pass_metric()),
                error_rate=float((run.status == FAILED).sum() / finished) if finished else None,
                scores={k: _nanmean(c.metric()[done]) for k, c in run.scores.items()},
                cost=_nansum(run.cost),
                judge_cost=_nansum(run.judge_cost),
                latency_p50=None if p50 is None else float(p50),
                latency_p95=None if p95 is None else float(p95),
            )
        )
    return points


class Histogram(_Model):
    """Counts of a scorer's values in equal-width bins; ``edges`` has one more entry."""

    scorer: str
    edges: list[float]
    counts: list[int]
    missing: int = Field(description="Finished rows without a value.")


def score_histogram(run: RunFrame, scorer: str, *, bins: int = 10) -> Histogram:
    """Distribution of one scorer's values in a run (finished rows)."""
    if scorer not in run.scores:
        raise InvalidInput(f"run {run.name!r} has no scores named {scorer!r}", field="scorer")
    if not 1 <= bins <= 1000:
        raise InvalidInput("bins must be between 1 and 1000", field="bins")
    values = run.scores[scorer].metric()[run.finished]
    present = values[~np.isnan(values)]
    if present.size:
        low, high = float(present.min()), float(present.max())
        if low == high:
            low, high = low - 0.5, high + 0.5
        counts, edges = np.histogram(present, bins=bins, range=(low, high))
    else:
        counts, edges = np.zeros(bins, dtype=np.int64), np.linspace(0, 1, bins + 1)
    return Histogram(
        scorer=scorer,
        edges=[float(e) for e in edges],
        counts=[int(c) for c in counts],
        missing=int(values.size - present.size),
    )


class DatasetHealth(_Model):
    """Items by how informative they have been across runs (each needs two or more outcomes)."""

    runs: int
    always_fail: list[str] = Field(description="Failed every time: broken item or real gap.")
    never_fail: list[str] = Field(description="Passed every time: little signal.")
    flaky: list[str] = Field(description="Passed sometimes and failed other times.")
    pass_rates: dict[str, float]


def dataset_health(runs: Sequence[RunFrame]) -> DatasetHealth:
    """Classify items by their outcomes over the history of runs (and their repetitions)."""
    if not runs:
        raise InvalidInput("dataset health needs at least one run", field="runs")
    ids = np.concatenate([r.item_ids[r.finished] for r in runs])
    passes = np.concatenate([r.pass_metric()[r.finished] for r in runs])
    items, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    wins = np.bincount(inverse, weights=passes, minlength=items.size)
    seen = counts >= 2
    names = items.tolist()
    rates = (wins / counts).tolist()
    return DatasetHealth(
        runs=len(runs),
        always_fail=[names[i] for i in np.flatnonzero(seen & (wins == 0))],
        never_fail=[names[i] for i in np.flatnonzero(seen & (wins == counts))],
        flaky=[names[i] for i in np.flatnonzero(seen & (wins > 0) & (wins < counts))],
        pass_rates=dict(zip(names, rates, strict=True)),
    )
