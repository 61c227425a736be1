"""Dataset runs whose outputs are uploaded (external experiments), as in the SDK docs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AliasChoices, ConfigDict, Field

from assay.domain.common import JSON, Input, JsonObject, Record
from assay.domain.experiments import (
    Experiment,
    ExperimentStatus,
    ExperimentSummary,
    ResultDetail,
)


class _Subscriptable(Record):
    """Also readable as ``run["id"]``, the way the SDK documentation shows it."""

    def __getitem__(self, key: str) -> Any:
        if key not in type(self).model_fields:
            raise KeyError(key)
        return getattr(self, key)


class RunTag(_Subscriptable):
    id: str = Field(description="Stable per (dataset, tag name).")
    name: str


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


class RunItemsCreate(Input):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    dataset_name: str | None = Field(
        default=None, validation_alias=_alias("dataset_name", "datasetName")
    )
    items: list[RunItemCreate] = Field(min_length=1, max_length=100_000)


class RunItemsResult(Record):
    dataset_run_id: str
    created: int
    updated: int
    result_ids: list[str]


class ExperimentView(Experiment):
    """An experiment with its result counts by status."""

    counts: dict[str, int]
    errors: int = Field(
        default=0,
        description="Errors during execution or scoring: failed results plus scores a scorer "
        "could not produce. A completed run with errors is 'completed with N errors'.",
    )


class ExperimentDetail(ExperimentView):
    summary: ExperimentSummary


class ExperimentStarted(Record):
    """What ``start/`` answers: the run is handed to a worker."""

    id: str
    name: str
    status: ExperimentStatus
    runs_created: int = Field(description="Results planned (items x trials).")
    started_at: datetime


class ResultsPage(Record):
    """One page of an experiment's results; ``summary`` only when asked for (it scans every
    result, so cursor pages of large runs skip it)."""

    experiment_id: str
    experiment_name: str
    dataset_name: str | None
    status: ExperimentStatus
    summary: ExperimentSummary | None
    results: list[ResultDetail]
    next_cursor: str | None
