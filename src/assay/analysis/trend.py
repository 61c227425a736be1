"""Trend series over in-memory runs: the headline figures of each run, in order.

Storage computes the same figures in SQL for stored experiments (``assay.store.analytics``);
this works on :class:`RunFrame` columns, for runs that are compared or gated in memory.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from assay.analysis.frame import FAILED, FloatArray, RunFrame


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class RunFigures(_Model):
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


def trend(runs: Sequence[RunFrame]) -> list[RunFigures]:
    """Per-run pass rate, mean scores, cost, latency p50/p95 and error rate, in the given order."""
    points: list[RunFigures] = []
    for run in runs:
        done = run.finished
        finished = int(done.sum())
        latency = run.latency_ms[done]
        latency = latency[~np.isnan(latency)]
        p50, p95 = np.percentile(latency, [50, 95]) if latency.size else (None, None)
        points.append(
            RunFigures(
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
