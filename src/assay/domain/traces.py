"""Traces and observations recorded from production or experiments."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AliasChoices, ConfigDict, Field, model_validator

from assay.domain.common import JSON, Input, JsonObject, Page, Record
from assay.domain.scores import Score


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


class TraceQuery(Input):
    """Which traces a list shows; every condition given must hold."""

    search: str | None = Field(
        default=None, max_length=200, description="Part of the trace's name or id."
    )
    name: str | None = Field(default=None, max_length=300, description="The trace's name.")
    session_id: str | None = Field(default=None, max_length=200)
    user_id: str | None = Field(default=None, max_length=200)
    tags: list[str] = Field(default_factory=list, description="Tags the trace has, all of them.")
    model: str | None = Field(
        default=None, max_length=200, description="A generation of the trace used this model."
    )
    errors: bool = Field(
        default=False,
        description="Only traces with an observation at level ERROR (or ``level: ERROR`` in "
        "the trace's metadata).",
    )
    score_name: str | None = Field(
        default=None, max_length=200, description="The trace has a score of this name."
    )
    score_min: float | None = Field(default=None, description="That score's value is at least.")
    score_max: float | None = Field(default=None, description="That score's value is at most.")
    since: datetime | None = Field(
        default=None, description="Started at or after (its creation time if it has no start)."
    )
    until: datetime | None = Field(default=None, description="Started before.")

    @model_validator(mode="after")
    def _coherent(self) -> TraceQuery:
        if (self.score_min is not None or self.score_max is not None) and not self.score_name:
            raise ValueError("score_min and score_max need score_name")
        if self.since and self.until and self.since >= self.until:
            raise ValueError("since must be before until")
        return self


class TraceSummary(Trace):
    """A trace with what its observations and scores add up to (one row of the list)."""

    observation_count: int
    tokens_in: int | None
    tokens_out: int | None
    cost: float | None
    duration_ms: float | None = Field(
        description="From the first start to the last end of the trace and its observations."
    )
    error: bool = Field(description="An observation is at level ERROR (or the trace is).")
    scores: list[Score] = Field(description="Scores recorded on the trace, by name.")


class TracePage(Page[TraceSummary]):
    """A page of traces; ``prev_cursor`` goes back one page, ``next_cursor`` forward."""

    prev_cursor: str | None = None


class SessionSummary(Record):
    """The traces that share a session id, added up."""

    session_id: str
    trace_count: int
    first_time: datetime
    last_time: datetime
    user_id: str | None = Field(description="The session's user (one of them, when several).")
    tokens_in: int | None
    tokens_out: int | None
    cost: float | None
