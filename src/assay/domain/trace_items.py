"""Dataset items made from recorded traces: which traces, and which of their fields."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AliasChoices, ConfigDict, Field, model_validator

from assay.domain.common import Input, JsonObject, Record


class TraceFilter(Input):
    """Traces to take; every condition given must hold."""

    name: str | None = Field(default=None, max_length=300, description="The trace's name.")
    tags: list[str] = Field(default_factory=list, description="Tags the trace has, all of them.")
    session_id: str | None = Field(default=None, max_length=200)
    user_id: str | None = Field(default=None, max_length=200)
    since: datetime | None = Field(
        default=None, description="Started at or after (its creation time if it has no start)."
    )
    until: datetime | None = Field(default=None, description="Started before.")
    metadata: JsonObject = Field(
        default_factory=dict,
        description="Values the trace's metadata holds: every key given, recursively, must "
        'match, e.g. {"attributes": {"env": "prod"}}.',
    )


class TraceField(Input):
    """Where an item field comes from: a field of the trace, or of its first span so named."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    span: str | None = Field(
        default=None,
        max_length=300,
        description="The name of an observation of the trace (the first one started, when "
        "several have it); none: the trace itself.",
    )
    field: Literal["input", "output", "metadata"] = "input"
    key: str | None = Field(
        default=None, max_length=300, description="One key of that value, when it is an object."
    )


class TraceMapping(Input):
    """Item fields from trace fields; ``null`` leaves an item field empty."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    input: TraceField = Field(default_factory=lambda: TraceField(field="input"))
    expected_output: TraceField | None = Field(
        default_factory=lambda: TraceField(field="output"),
        validation_alias=AliasChoices("expected_output", "expectedOutput"),
    )
    metadata: TraceField | None = Field(default_factory=lambda: TraceField(field="metadata"))


class FromTracesRequest(Input):
    """Recorded traces to add to a dataset as one new version, each at most once."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    trace_ids: list[str] | None = Field(
        default=None,
        max_length=10_000,
        validation_alias=AliasChoices("trace_ids", "traceIds"),
        description="These traces (with a filter: those of them it matches).",
    )
    filter: TraceFilter | None = None
    mapping: TraceMapping = Field(default_factory=TraceMapping)
    limit: int = Field(
        default=1000, ge=1, le=10_000, description="At most this many traces, newest first."
    )
    message: str | None = Field(default=None, max_length=500, description="The version's note.")

    @model_validator(mode="after")
    def _some_traces(self) -> FromTracesRequest:
        if self.trace_ids is None and self.filter is None:
            raise ValueError("name the traces: give trace_ids, a filter, or both")
        return self


class FromTracesResult(Record):
    dataset_id: str
    version: int = Field(description="The new version, or the current one if nothing was added.")
    added: int
    duplicates: int = Field(description="Traces already in the dataset, not added again.")
    skipped: int = Field(description="Traces with nothing at the mapped input.")
    total_items: int
    trace_ids: list[str] = Field(description="The traces added, in item order.")
