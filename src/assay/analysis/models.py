"""The shapes a comparison returns: JSON-serialisable pydantic models shared by API, CLI and UI."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from assay.analysis.stats import Direction, TestName, Verdict

MetricKind = Literal["pass_fail", "numeric"]
Change = Literal["regression", "improvement", "unchanged", "missing"]
ItemFilter = Literal["regressions", "improvements", "changed", "failed"]

#: Name of the metric for the overall outcome of a result (``Result.passed``).
PASS_METRIC = "passed"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class RunInfo(_Model):
    run_id: str
    name: str
    dataset_id: str | None
    dataset_version: int | None
    results: int = Field(description="Aligned results (item, repetition) in the run.")
    items: int = Field(description="Distinct items the run covers.")
    finished: int = Field(description="Results that completed or failed.")
    unaligned: int = Field(description="Results without an item id, left out of the comparison.")


class Contrast(_Model):
    """One run against the baseline for one metric: paired over items present in both."""

    run_id: str
    n: int = Field(description="Items (clusters) with a value in both runs.")
    difference: float | None = Field(description="Mean per-item difference, run - baseline.")
    ci_low: float | None
    ci_high: float | None
    confidence: float
    p_value: float | None
    test: TestName | None
    verdict: Verdict


class MetricComparison(_Model):
    """A scorer (or the overall pass rate) across runs."""

    name: str
    kind: MetricKind
    direction: Direction
    means: dict[str, float | None] = Field(description="Mean per run over its finished rows.")
    counts: dict[str, int] = Field(description="Rows with a value, per run.")
    contrasts: list[Contrast] = Field(description="Each other run against the baseline.")

    def contrast(self, run_id: str) -> Contrast | None:
        return next((c for c in self.contrasts if c.run_id == run_id), None)


class Distribution(_Model):
    count: int
    total: float | None
    mean: float | None
    p50: float | None
    p95: float | None


class DistributionDelta(_Model):
    run_id: str
    total: float | None
    mean: float | None
    p95: float | None


class UsageComparison(_Model):
    """Latency, target cost or judge (scorer) cost per run, and deltas against the baseline."""

    name: Literal["latency_ms", "cost", "judge_cost"]
    runs: dict[str, Distribution]
    deltas: list[DistributionDelta]


class Cell(_Model):
    """One run's result for one (item, repetition)."""

    status: str
    passed: bool | None
    output: Any = None
    error: str | None = None
    latency_ms: float | None = None
    cost: float | None = None
    scores: dict[str, float | None] = Field(default_factory=dict)


class DiffOp(_Model):
    op: Literal["equal", "insert", "delete"]
    text: str


class ItemRow(_Model):
    item_id: str
    repetition: int
    tags: list[str] = Field(default_factory=list)
    cells: dict[str, Cell | None] = Field(description="Per run; None when the run lacks it.")
    changes: dict[str, Change] = Field(description="Per other run, outcome against the baseline.")
    deltas: dict[str, dict[str, float]] = Field(
        description="Per other run, score differences against the baseline."
    )
    diffs: dict[str, list[DiffOp]] = Field(
        default_factory=dict,
        description="Per other run whose output differs: word diff from the baseline output.",
    )


class ItemReliability(_Model):
    """Pass rate of one item over its trials in each run; flaky where outcomes vary."""

    item_id: str
    pass_rates: dict[str, float]
    trials: dict[str, int]
    flaky_in: list[str]


class CompareWarning(_Model):
    code: Literal[
        "dataset_version",
        "dataset",
        "item_set",
        "unaligned",
        "unfinished",
        "scorer_missing",
        "content_aligned",
    ]
    message: str


class Comparison(_Model):
    baseline_id: str
    runs: list[RunInfo]
    metrics: list[MetricComparison]
    usage: list[UsageComparison]
    items: list[ItemRow] = Field(description="The requested page of item rows.")
    items_total: int = Field(description="Item rows matching the filters, over all pages.")
    reliability: list[ItemReliability] = Field(
        description="Items with more than one trial in some run."
    )
    regressions: dict[str, int] = Field(description="Per other run, rows that went pass -> fail.")
    improvements: dict[str, int] = Field(description="Per other run, rows that went fail -> pass.")
    warnings: list[CompareWarning]

    def metric(self, name: str) -> MetricComparison | None:
        return next((m for m in self.metrics if m.name == name), None)

    @property
    def flaky_items(self) -> list[str]:
        return [r.item_id for r in self.reliability if r.flaky_in]
