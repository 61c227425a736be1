"""Traces and observations recorded from production or experiments."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AliasChoices, ConfigDict, Field

from assay.domain.common import JSON, Input, JsonObject, Record


class ObservationType(StrEnum):
    span = "span"
    generation = "generation"
    tool = "tool"
    event = "event"


class Observation(Record):
    id: str
    trace_id: str
    parent_id: str | None
    type: ObservationType
    name: str | None
    start_time: datetime | None
    end_time: datetime | None
    input: JSON
    output: JSON
    model: str | None
    model_parameters: JsonObject | None
    tokens_in: int | None
    tokens_out: int | None
    cost: float | None
    level: str | None
    status_message: str | None
    metadata: JsonObject


class Trace(Record):
    id: str
    project_id: str
    name: str | None
    input: JSON
    output: JSON
    metadata: JsonObject
    tags: list[str]
    session_id: str | None
    user_id: str | None
    start_time: datetime | None
    end_time: datetime | None
    created_at: datetime


class ObservationCreate(Input):
    """A span, generation (model, usage, cost) or tool call inside a trace."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    id: str | None = Field(default=None, min_length=1, max_length=64)
    parent_id: str | None = Field(
        default=None, max_length=64, validation_alias=AliasChoices("parent_id", "parentId")
    )
    type: ObservationType = ObservationType.span
    name: str | None = Field(default=None, max_length=300)
    start_time: datetime | None = Field(
        default=None, validation_alias=AliasChoices("start_time", "startTime")
    )
    end_time: datetime | None = Field(
        default=None, validation_alias=AliasChoices("end_time", "endTime")
    )
    input: JSON = None
    output: JSON = None
    model: str | None = Field(default=None, max_length=200)
    model_parameters: JsonObject | None = Field(
        default=None, validation_alias=AliasChoices("model_parameters", "modelParameters")
    )
    tokens_in: int | None = Field(default=None, ge=0, strict=True)
    tokens_out: int | None = Field(default=None, ge=0, strict=True)
    cost: float | None = Field(default=None, ge=0, strict=True)
    level: str | None = Field(default=None, max_length=16)
    status_message: str | None = None
    metadata: JsonObject = Field(default_factory=dict)


class TraceCreate(Input):
    """One recorded execution; re-sending the same ``id`` updates it (ingestion is idempotent)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    id: str | None = Field(default=None, min_length=1, max_length=64)
    name: str | None = Field(default=None, max_length=300)
    input: JSON = None
    output: JSON = None
    metadata: JsonObject = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    session_id: str | None = Field(
        default=None, max_length=200, validation_alias=AliasChoices("session_id", "sessionId")
    )
    user_id: str | None = Field(
        default=None, max_length=200, validation_alias=AliasChoices("user_id", "userId")
    )
    start_time: datetime | None = Field(
        default=None, validation_alias=AliasChoices("start_time", "startTime")
    )
    end_time: datetime | None = Field(
        default=None, validation_alias=AliasChoices("end_time", "endTime")
    )
    observations: list[ObservationCreate] = Field(default_factory=list)


class TraceBatch(Input):
    traces: list[TraceCreate] = Field(min_length=1, max_length=1000)


class TraceIngestResult(Record):
    created: int
    updated: int
    observations: int
    trace_ids: list[str]


class TraceDetail(Trace):
    observations: list[Observation]
