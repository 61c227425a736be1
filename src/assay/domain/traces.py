"""Traces and observations recorded from production or experiments."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from assay.domain.common import JSON, JsonObject, Record


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
