"""Dataset runs whose outputs are uploaded (external experiments), as in the SDK docs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import AliasChoices, ConfigDict, Field

from assay.domain.common import JSON, Input, JsonObject, Record
from assay.domain.experiments import Experiment, ExperimentSummary, Result
from assay.domain.scores import ScoreCreate
from assay.domain.statuses import ExperimentStatus, ScoreDataType, ScoreSource


class _Subscriptable(Record):
    """Also readable as ``run["id"]``, the way the SDK documentation shows it."""

    def __getitem__(self, key: str) -> Any:
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)


class RunTag(_Subscriptable):
    id: str = Field(description="Stable per (dataset, tag name).")
    name: str


class RunScoring(Record):
    """The dataset's attached evaluators applied in the background to uploaded results: one
    job per (result, evaluator version)."""

    pending: int = Field(default=0, description="Jobs still waiting for a worker.")
    done: int = Field(default=0, description="Jobs finished (scored, or already scored).")
    pending_results: int = Field(default=0, description="Results with a job still waiting.")


class DatasetRun(_Subscriptable):
    id: str
    name: str
    description: str | None
    dataset_id: str | None
    dataset_name: str | None
    status: ExperimentStatus
    external: bool
    tags: list[RunTag]
    metadata: JsonObject
    item_count: int
    created_at: datetime
    scoring: RunScoring = Field(
        default_factory=RunScoring,
        description="Background scoring of uploaded results by the dataset's evaluators.",
    )


def _alias(*names: str) -> Any:
    return AliasChoices(*names)


class DatasetRunCreate(Input):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    dataset_name: str = Field(
        min_length=1, validation_alias=_alias("dataset_name", "datasetName", "dataset")
    )
    id: str | None = Field(
        default=None,
        min_length=1,
        max_length=36,
        description="Client-chosen id: creating the same id again returns the existing run.",
    )
    name: str = Field(min_length=1, max_length=300)
    description: str | None = None
    tag: str | None = Field(default=None, min_length=1, max_length=200)
    metadata: JsonObject = Field(default_factory=dict)
    dataset_version: int | None = Field(
        default=None,
        ge=0,
        le=2**31 - 1,
        validation_alias=_alias("dataset_version", "datasetVersion"),
        description="Pin this version of the dataset (default: its current version).",
    )


class RunItemScore(Input):
    """A score computed where the output was produced (the SDK's local scorers)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=200)
    value: float | bool | str | None = Field(
        description="Numeric, boolean or categorical value; null when the scorer could not score."
    )
    data_type: ScoreDataType | None = Field(
        default=None,
        validation_alias=_alias("data_type", "dataType"),
        description="Inferred from value.",
    )
    passed: bool | None = None
    reason: str | None = Field(default=None, max_length=100_000)
    cost: float | None = Field(default=None, ge=0)
    tokens_in: int | None = Field(default=None, ge=0, le=2**31 - 1)
    tokens_out: int | None = Field(default=None, ge=0, le=2**31 - 1)
    latency_ms: float | None = Field(default=None, ge=0)
    metadata: JsonObject = Field(default_factory=dict)

    def as_score(self) -> ScoreCreate:
        """The stored form: an evaluator score, like those of runs executed by Assay."""
        return ScoreCreate(
            name=self.name,
            value=self.value,
            data_type=self.data_type,
            passed=self.passed,
            reason=self.reason,
            source=ScoreSource.evaluator,
            cost=self.cost,
            tokens_in=self.tokens_in,
            tokens_out=self.tokens_out,
            latency_ms=self.latency_ms,
            metadata=self.metadata,
        )


class RunItemCreate(Input):
    """One uploaded output: for a dataset item (``datasetItemId``, or the item whose input
    equals ``input``), with the trace that produced it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    id: str | None = Field(
        default=None,
        min_length=1,
        max_length=36,
        description="Client-chosen result id: sending it again replaces that result.",
    )
    dataset_item_id: str | None = Field(
        default=None, validation_alias=_alias("dataset_item_id", "datasetItemId")
    )
    repetition: int = Field(
        default=0,
        ge=0,
        le=10_000,
        description="Which trial of the item this output is (0 for the first): one result per "
        "(item, repetition).",
    )
    input: JSON = None
    expected_output: JSON = Field(
        default=None, validation_alias=_alias("expected_output", "expectedOutput")
    )
    output: JSON = None
    error: str | None = None
    trace_id: str | None = Field(
        default=None, max_length=64, validation_alias=_alias("trace_id", "traceId")
    )
    observation_id: str | None = Field(
        default=None, max_length=64, validation_alias=_alias("observation_id", "observationId")
    )
    latency_ms: float | None = Field(
        default=None, ge=0, validation_alias=_alias("latency_ms", "latencyMs")
    )
    cost: float | None = Field(default=None, ge=0)
    tokens_in: int | None = Field(default=None, ge=0, le=2**31 - 1)
    tokens_out: int | None = Field(default=None, ge=0, le=2**31 - 1)
    started_at: datetime | None = Field(
        default=None,
        validation_alias=_alias("started_at", "startedAt"),
        description="When the output was produced (default: when first uploaded; sending the "
        "item again keeps the recorded times unless new ones are given).",
    )
    finished_at: datetime | None = Field(
        default=None, validation_alias=_alias("finished_at", "finishedAt")
    )
    scores: list[RunItemScore] | None = Field(
        default=None,
        max_length=1000,
        description="Scores of this output; each replaces the run item's evaluator score of "
        "the same name, and the item's pass/fail follows their verdicts.",
    )


class RunItemsCreate(Input):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    dataset_name: str | None = Field(
        default=None, validation_alias=_alias("dataset_name", "datasetName")
    )
    items: list[RunItemCreate] = Field(min_length=1, max_length=100_000)
    score: bool = Field(
        default=True,
        description="Queue the completed outputs for the dataset's attached evaluators (scored "
        "by a worker, never twice; evaluators whose score the item carries are left out).",
    )


class RunItemsResult(Record):
    dataset_run_id: str
    created: int
    updated: int
    result_ids: list[str]
    queued: int = Field(
        default=0, description="(result, evaluator) scoring jobs this upload queued."
    )


class RunScoreRequest(Input):
    """Score a run's outputs on the server with saved evaluators."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    evaluators: list[str] | None = Field(
        default=None,
        max_length=100,
        description="Saved evaluators by id or name; null means the dataset's attached ones.",
    )
    skip: list[str] = Field(
        default_factory=list,
        max_length=1000,
        description="Score names already given by the uploader: evaluators of these names "
        "are left out (the uploaded score wins).",
    )
    concurrency: int = Field(default=8, ge=1, le=64)


class RunScoreReport(Record):
    """What scoring a run on the server did."""

    dataset_run_id: str
    evaluators: list[str] = Field(description="Names of the evaluators applied.")
    evaluator_ids: list[str]
    results: int
    scores: int
    errors: int
    passed: int
    failed: int
    cost: float
    first_error: str | None


class ExperimentView(Experiment):
    """An experiment with its result counts by status."""

    counts: dict[str, int]
    errors: int = Field(
        default=0,
        description="Errors during execution or scoring: failed results plus scores a scorer "
        "could not produce. A completed run with errors is 'completed with N errors'.",
    )


class ExperimentDetail(ExperimentView):
    """An experiment with its summary and its per-item runs (results), in plan order."""

    summary: ExperimentSummary
    runs: list[Result] = Field(
        default_factory=list,
        description="The experiment's runs, one per dataset item and trial, in plan order "
        "(the first ``runs_limit``; follow ``runs_next_cursor`` with ``runs_cursor``).",
    )
    runs_next_cursor: str | None = None


class ExperimentStarted(Record):
    """What ``start/`` answers: the run is handed to a worker."""

    id: str
    name: str
    status: ExperimentStatus
    runs_created: int = Field(description="Results planned (items x trials).")
    started_at: datetime


class ResultsPage(Record):
    """An experiment's results, one page in plan order; ``summary`` only when asked for (it
    scans every result, so cursor pages of large runs skip it)."""

    experiment_id: str
    experiment_name: str
    dataset_name: str | None
    status: ExperimentStatus
    summary: ExperimentSummary | None
    results: list[Result]
    next_cursor: str | None = Field(description="Pass back as ``cursor`` for the next page.")
    total: int | None = Field(
        default=None,
        description="Results matching the filters, over all pages (counted for the first page).",
    )


@dataclass(slots=True)
class WorkItem:
    """One planned (item, repetition) for the engine to execute."""

    result_id: str
    item_id: str | None
    repetition: int
    input: Any
    expected_output: Any
    context: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
