"""Comparison records: what the analysis computes and the API, SDK, CLI and UI render.

:mod:`assay.analysis` computes these from runs (paired statistics aligned by item); the REST
API serves them and the SDK client parses them back into the same classes. Gate records are in
:mod:`assay.domain.gate`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from assay.domain.common import JSON, JsonObject

Direction = Literal["higher", "lower"]
TestName = Literal["mcnemar_exact", "permutation_exact", "permutation", "wilcoxon"]


class Verdict(StrEnum):
    better = "better"
    worse = "worse"
    inconclusive = "inconclusive"


MetricKind = Literal["pass_fail", "numeric"]
#: How p-values of a comparison's several tests are adjusted: Holm (family-wise error),
#: Benjamini-Hochberg (false discovery rate) or not at all.
PAdjust = Literal["holm", "bh", "none"]
MarginMethod = Literal["tango_score", "paired_t"]


class MarginVerdict(StrEnum):
    non_inferior = "non_inferior"
    equivalent = "equivalent"
    not_shown = "not_shown"


Change = Literal["regression", "improvement", "unchanged", "missing"]
ItemFilter = Literal["regressions", "improvements", "changed", "failed"]

#: Name of the metric for the overall outcome of a result (``Result.passed``).
PASS_METRIC = "passed"


class _Model(BaseModel):
    """Immutable; unknown fields from a newer server are ignored. Also readable as
    ``verdict["passed"]``, as the SDK returned plain JSON before it returned records."""

    model_config = ConfigDict(frozen=True)

    def __getitem__(self, key: str) -> Any:
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)


class RunInfo(_Model):
    run_id: str
    name: str
    dataset_id: str | None
    dataset_version: int | None
    results: int = Field(description="Aligned results (item, repetition) in the run.")
    items: int = Field(description="Distinct items the run covers.")
    finished: int = Field(description="Results that completed or failed.")
    unaligned: int = Field(description="Results without an item id, left out of the comparison.")


class MarginTest(_Model):
    """Is the run no worse than the baseline by more than ``margin`` (non-inferiority), or
    within ``margin`` of it either way (equivalence)? One-sided tests at ``alpha``: the
    interval is the ``1 - 2 alpha`` two-sided one, so each verdict reads off it."""

    margin: float = Field(description="In the metric's units (0.02 = two points of pass rate).")
    method: MarginMethod
    confidence: float
    ci_low: float | None
    ci_high: float | None
    p_non_inferiority: float | None = Field(description="One-sided p of 'worse by the margin'.")
    p_equivalence: float | None = Field(description="Two one-sided tests: the larger p.")
    non_inferiority: MarginVerdict
    equivalence: MarginVerdict


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
    p_adjusted: float | None = Field(
        default=None,
        description="p_value adjusted for the comparison's several tests (see p_adjust); "
        "the verdict uses it.",
    )
    margin: MarginTest | None = Field(
        default=None, description="Non-inferiority and equivalence within a margin, when asked."
    )


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


class UsageDistribution(_Model):
    """Spread of latency or cost over one run's finished results."""

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
    runs: dict[str, UsageDistribution]
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


class JudgeNoise(_Model):
    """Could an LLM judge's own noise explain a difference? From judges that graded each
    output several times (``repetitions``): their variance per call, against the variance
    of the per-item differences."""

    metric: str
    run_id: str = Field(description="The run compared with the baseline.")
    repetitions: dict[str, int] = Field(description="Judge calls per output, per run.")
    judge_variance: float = Field(description="Variance of one judge call on one output.")
    difference: float = Field(description="Mean per-item difference (run - baseline).")
    difference_variance: float = Field(description="Variance of the per-item differences.")
    judge_share: float = Field(description="Share of that variance due to the judge (0-1).")
    judge_z: float | None = Field(
        description="The mean difference over its standard error under judge noise alone."
    )
    explained: bool = Field(description="Judge noise alone could produce this difference.")
    message: str


class Comparison(_Model):
    """Runs compared with the first (the baseline), aligned by item: statistics per metric."""

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
    p_adjust: PAdjust = Field(
        default="none", description="How p_adjusted was computed over the comparison's tests."
    )
    judge_noise: list[JudgeNoise] = Field(
        default_factory=list,
        description="Per judge metric graded with repetitions: how much of each difference "
        "the judge's own noise could explain.",
    )

    def metric(self, name: str) -> MetricComparison | None:
        return next((m for m in self.metrics if m.name == name), None)

    @property
    def flaky_items(self) -> list[str]:
        return [r.item_id for r in self.reliability if r.flaky_in]


# ---------------------------------------------------------------------- seed-shaped responses
class ExperimentBrief(_Model):
    name: str
    config: JsonObject
    status: str
    dataset_id: str | None
    dataset_version: int | None


class DatasetItemBrief(_Model):
    id: str | None
    input: JSON
    expected_output: JSON


class ComparisonRow(_Model):
    dataset_item: DatasetItemBrief
    repetition: int
    results: dict[str, JsonObject] = Field(description="Per experiment id: its result.")


class ExperimentComparison(_Model):
    """Experiments side by side per dataset item (one page), with paired statistics."""

    experiments: dict[str, ExperimentBrief]
    comparisons: list[ComparisonRow]
    total_items: int
    offset: int
    statistics: Comparison = Field(description="Paired statistics; the first run is baseline.")


class LinkedExperiment(_Model):
    id: str
    name: str
    version: int


class PromptVersionComparison(_Model):
    """Two linked experiments, one per prompt version, and where to compare them."""

    experiment_a: LinkedExperiment
    experiment_b: LinkedExperiment
    compare_url: str


__all__ = [
    "PASS_METRIC",
    "Cell",
    "Change",
    "CompareWarning",
    "Comparison",
    "ComparisonRow",
    "Contrast",
    "DatasetItemBrief",
    "DiffOp",
    "Direction",
    "DistributionDelta",
    "ExperimentBrief",
    "ExperimentComparison",
    "ItemFilter",
    "ItemReliability",
    "ItemRow",
    "LinkedExperiment",
    "MetricComparison",
    "MetricKind",
    "PromptVersionComparison",
    "RunInfo",
    "TestName",
    "UsageComparison",
    "UsageDistribution",
    "Verdict",
]
