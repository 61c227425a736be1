"""Comparison and gate records: what the analysis computes and the API, SDK, CLI and UI render.

:mod:`assay.analysis` computes these from runs (paired statistics aligned by item, regression
gates); the REST API serves them and the SDK client parses them back into the same classes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from enum import StrEnum
from itertools import islice
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from assay.domain.common import JSON, JsonObject
from assay.errors import InvalidInput

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


# ---------------------------------------------------------------------- gate
class MarginRule(_Model):
    """``{margin: 0.02}``: in the metric's units (a fraction for pass rates)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    margin: float = Field(gt=0, description="Largest difference that does not matter.")


class ScorerRule(_Model):
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
    non_inferiority: MarginRule | None = Field(
        default=None, description="Require non-inferiority to the baseline within a margin."
    )
    equivalence: MarginRule | None = Field(
        default=None, description="Require equivalence to the baseline within a margin."
    )
    min_judge_agreement: float | None = Field(
        default=None,
        ge=-1,
        le=1,
        description="Overrides the policy's min_judge_agreement for this scorer.",
    )


class RegressionPolicy(_Model):
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
    p_adjust: PAdjust = Field(
        default="holm",
        description="Adjust the p-values of the checked metrics for multiplicity: holm, bh "
        "(Benjamini-Hochberg) or none.",
    )
    non_inferiority: MarginRule | None = Field(
        default=None, description="Require the pass rate to be non-inferior within a margin."
    )
    min_judge_agreement: float | None = Field(
        default=None,
        ge=-1,
        le=1,
        description="Refuse to rely on an evaluator scorer whose agreement with human scores "
        "(Cohen's kappa, or Spearman's rho for numeric scores) is below this.",
    )
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
            import yaml  # only when a policy is read from text: keeps listings light

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


class GateCheck(_Model):
    name: str
    passed: bool
    observed: float | None = None
    limit: float | None = None
    message: str


class ItemOutcome(_Model):
    """One (item, repetition) of the candidate: one test case in the JUnit report."""

    item_id: str
    repetition: int
    status: str
    passed: bool
    error: str | None = None
    failing_scores: list[str] = Field(default_factory=list)
    latency_ms: float | None = None
    regressed: bool = Field(default=False, description="Passed in the baseline, fails now.")


class ItemRegression(_Model):
    """One item that passed in the baseline and fails now, listed once however many trials."""

    item_id: str
    regressed: int = Field(description="Trials that passed in the baseline and fail now.")
    trials: int = Field(description="Trials of the item compared with the baseline.")

    @property
    def detail(self) -> str:
        """``"2 of 3 trials"``; empty for an item run once."""
        return "" if self.trials <= 1 else f"{self.regressed} of {self.trials} trials"


class GateOutcomeSource(Protocol):
    """Where a verdict's outcomes come from in full: the analysis derives them from the runs'
    columns a chunk at a time (:class:`assay.analysis.gate_items.GateOutcomes`)."""

    def items(self, start: int = 0, stop: int | None = None) -> Iterator[ItemOutcome]: ...

    def trials(self) -> Iterator[list[ItemOutcome]]: ...

    def regressions(self, start: int = 0, stop: int | None = None) -> Iterator[ItemRegression]: ...


#: Outcomes and regressions a verdict lists unless asked otherwise (the rest are counted).
GATE_LIMIT = 1000


class GateVerdict(_Model):
    """Whether a run passes its regression policy, check by check.

    ``items`` and ``regressions`` list the first outcomes and regressions (1,000 by default);
    ``items_total``, ``items_failing`` and ``regressions_total`` count all of them. A verdict
    computed in this process yields every one from the runs' columns (:meth:`iter_items`,
    :meth:`iter_trials`, :meth:`iter_regressions`); over the API, follow
    ``items_next_cursor`` and ``regressions_next_cursor``."""

    passed: bool
    run_id: str
    run_name: str
    baseline_id: str | None
    baseline_name: str | None
    reasons: list[str] = Field(description="Why the gate failed; empty when it passed.")
    checks: list[GateCheck]
    means: dict[str, float | None] = Field(description="The candidate's mean per metric.")
    comparison: Comparison | None = Field(description="Against the baseline, statistics only.")
    items: list[ItemOutcome] = Field(
        description="Outcomes per (item, repetition) of the candidate, in run order: the first "
        "`limit` of `items_total`."
    )
    items_total: int = Field(
        default=0, description="Outcomes of the candidate, one per (item, repetition)."
    )
    items_failing: int = Field(default=0, description="Outcomes that did not pass.")
    items_next_cursor: str | None = Field(
        default=None,
        description="When `items` is not all of them: the `cursor` of "
        "`GET /experiments/{id}/gate/items/` for the next page.",
    )
    regressions: list[ItemRegression] = Field(
        default_factory=list,
        description="Items that passed in the baseline and fail now, once each (in run order), "
        "with how many of their compared trials regressed: the first `limit` of "
        "`regressions_total`.",
    )
    regressions_total: int = Field(default=0, description="Items that regressed.")
    regressions_next_cursor: str | None = Field(
        default=None,
        description="When `regressions` is not all of them: the `cursor` of "
        "`GET /experiments/{id}/gate/regressions/` for the next page.",
    )
    policy: RegressionPolicy
    target_cost: float | None = Field(
        default=None, description="What the candidate's target calls cost (USD)."
    )
    judge_cost: float | None = Field(
        default=None, description="What the candidate's LLM-judge calls cost (USD), apart."
    )
    _source: GateOutcomeSource | None = PrivateAttr(default=None)

    @model_validator(mode="before")
    @classmethod
    def _counted(cls, data: Any) -> Any:
        """A verdict from a server without the counts lists every outcome: count the lists."""
        if isinstance(data, Mapping) and "items_total" not in data:
            items = data.get("items") or []
            data = dict(data)
            data["items_total"] = len(items)
            data["items_failing"] = sum(1 for i in items if not _field(i, "passed"))
            data.setdefault("regressions_total", len(data.get("regressions") or []))
        return data

    def __eq__(self, other: object) -> bool:  # the outcome source is not part of the record
        if not isinstance(other, GateVerdict):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    def __getstate__(self) -> dict[Any, Any]:
        """Pickled as the record alone: the runs' columns stay in this process."""
        state = super().__getstate__()
        if state.get("__pydantic_private__"):
            state["__pydantic_private__"] = {**state["__pydantic_private__"], "_source": None}
        return state

    def with_outcomes(self, source: GateOutcomeSource) -> GateVerdict:
        """This verdict, yielding every outcome from ``source`` (see :meth:`iter_items`)."""
        self._source = source
        return self

    @property
    def source(self) -> GateOutcomeSource | None:
        """Where every outcome comes from (None: a verdict read back from JSON)."""
        return self._source

    @property
    def complete(self) -> bool:
        """Whether ``items`` and ``regressions`` list every outcome and regression."""
        return (
            len(self.items) == self.items_total and len(self.regressions) == self.regressions_total
        )

    def iter_items(self) -> Iterator[ItemOutcome]:
        """Every outcome in run order, made a chunk at a time from the runs' columns."""
        if self._source is not None:
            return self._source.items()
        self._whole("items", len(self.items), self.items_total)
        return iter(self.items)

    def iter_trials(self) -> Iterator[list[ItemOutcome]]:
        """Each item's outcomes (its trials, in run order), items in order of first appearance:
        one JUnit test case each."""
        if self._source is not None:
            return self._source.trials()
        self._whole("items", len(self.items), self.items_total)
        grouped: dict[str, list[ItemOutcome]] = {}
        for item in self.items:
            grouped.setdefault(item.item_id, []).append(item)
        return iter(grouped.values())

    def iter_regressions(self) -> Iterator[ItemRegression]:
        """Every regressed item, once, in run order."""
        if self._source is not None:
            return self._source.regressions()
        self._whole("regressions", len(self.regressions), self.regressions_total)
        return iter(self.regressions)

    def first_regressions(self, n: int) -> list[ItemRegression]:
        """The first ``n`` regressed items: from ``regressions``, else from the source when
        the list is shorter (a verdict asked to list fewer)."""
        if len(self.regressions) >= min(n, self.regressions_total) or self._source is None:
            return self.regressions[:n]
        return list(islice(self._source.regressions(), n))

    def _whole(self, what: str, listed: int, total: int) -> None:
        if listed < total:
            raise InvalidInput(
                f"this verdict lists {listed} of its {total} {what}; page the rest with "
                f"GET /experiments/{{id}}/gate/{what}/ (the verdict's {what}_next_cursor)",
                field=what,
            )


def _field(value: Any, name: str) -> Any:
    return value.get(name) if isinstance(value, Mapping) else getattr(value, name, None)


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
    "GATE_LIMIT",
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
    "GateCheck",
    "GateOutcomeSource",
    "GateVerdict",
    "ItemFilter",
    "ItemOutcome",
    "ItemReliability",
    "ItemRow",
    "LinkedExperiment",
    "MetricComparison",
    "MetricKind",
    "PromptVersionComparison",
    "RegressionPolicy",
    "RunInfo",
    "ScorerRule",
    "TestName",
    "UsageComparison",
    "UsageDistribution",
    "Verdict",
]
