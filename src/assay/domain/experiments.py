"""Experiments (dataset runs) and their results."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from assay.domain.common import JSON, JsonObject, Record
from assay.domain.scores import Score


class ExperimentStatus(StrEnum):
    pending = "pending"
    running = "running"
    scoring = "scoring"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (
            ExperimentStatus.completed,
            ExperimentStatus.failed,
            ExperimentStatus.cancelled,
        )


class ResultStatus(StrEnum):
    pending = "pending"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


class Experiment(Record):
    id: str
    project_id: str
    dataset_id: str | None
    dataset_version: int | None
    name: str
    description: str | None
    config: JsonObject = Field(description="Target spec: prompt + model, endpoint, or function.")
    config_hash: str | None
    selection: JsonObject | None
    evaluator_ids: list[str]
    scorers: list[JsonObject]
    concurrency: int
    trials: int
    run_tag: str | None
    tags: list[str]
    metadata: JsonObject
    notes: str | None
    external: bool
    status: ExperimentStatus
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class Result(Record):
    id: str
    experiment_id: str
    item_id: str | None
    repetition: int
    status: ResultStatus
    input: JSON
    expected_output: JSON
    output: JSON
    error: str | None
    latency_ms: float | None
    tokens_in: int | None
    tokens_out: int | None
    cost: float | None
    attempts: int
    passed: bool | None
    trace_id: str | None
    observation_id: str | None
    started_at: datetime | None
    finished_at: datetime | None
    scores: list[Score] = Field(default_factory=list)
