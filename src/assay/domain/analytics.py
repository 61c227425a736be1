"""Analytics over experiments: trends, distributions, latency and dataset health."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from assay.domain.common import Record


class ScorerPoint(Record):
    count: int
    mean: float | None
    pass_rate: float | None


class TrendPoint(Record):
    """One experiment on a dataset's timeline."""

    experiment_id: str
    name: str
    run_tag: str | None
    status: str
    dataset_version: int | None
    created_at: datetime
    total: int
    completed: int
    failed: int
    error_rate: float | None = Field(description="failed / (completed + failed)")
    pass_rate: float | None = Field(description="passed / results with a verdict")
    avg_latency_ms: float | None
    p95_latency_ms: float | None
    total_cost: float
    avg_cost: float | None
    judge_cost: float = Field(default=0.0, description="LLM-judge calls (USD), apart.")
    scores: dict[str, ScorerPoint]


class HistogramBin(Record):
    lower: float
    upper: float
    count: int


class Histogram(Record):
    """How one score (or latency) is spread over an experiment's results."""

    experiment_id: str
    name: str
    count: int
    min: float | None
    max: float | None
    mean: float | None
    bins: list[HistogramBin]
    categories: dict[str, int] = Field(
        default_factory=dict, description="Counts of categorical values (string scores)."
    )


class LatencyStats(Record):
    experiment_id: str
    count: int
    mean: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    max: float | None


HealthKind = Literal["always_fail", "always_pass", "flaky"]


class ItemHealth(Record):
    item_id: str
    kind: HealthKind
    runs: int
    passes: int
    fails: int


class DatasetHealth(Record):
    """Items that always fail, never fail (low signal) or vary for one configuration (flaky:
    across the trials of a run, or runs sharing a config hash or run tag), across history."""

    dataset_id: str
    experiments: int = Field(description="Experiments considered (finished, on this dataset).")
    items_seen: int
    always_fail: int
    always_pass: int
    flaky: int
    items: list[ItemHealth] = Field(description="Classified items, flaky first, then failing.")
