"""Scores, attached to a result or a trace."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from assay.domain.common import JsonObject, Record
from assay.domain.statuses import ScoreDataType, ScoreSource


class Score(Record):
    id: str
    name: str
    data_type: ScoreDataType
    numeric_value: float | None
    string_value: str | None
    passed: bool | None
    reason: str | None
    source: ScoreSource
    result_id: str | None
    trace_id: str | None
    evaluator_id: str | None
    evaluator_version: int | None
    cost: float | None
    tokens_in: int | None
    tokens_out: int | None
    latency_ms: float | None
    metadata: JsonObject
    created_at: datetime


def infer_data_type(value: float | bool | str | None) -> ScoreDataType:
    if isinstance(value, bool):
        return ScoreDataType.boolean
    if isinstance(value, int | float):
        return ScoreDataType.numeric
    return ScoreDataType.categorical


class ScoreCreate(BaseModel):
    """A score to record: what a scorer returns, and what humans and APIs send."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    value: float | bool | str | None = Field(
        description="Numeric, boolean or categorical value; None when the scorer could not score."
    )
    data_type: ScoreDataType | None = Field(default=None, description="Inferred from value.")
    passed: bool | None = None
    reason: str | None = None
    source: ScoreSource = ScoreSource.evaluator
    evaluator_id: str | None = None
    evaluator_version: int | None = None
    cost: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_ms: float | None = None
    metadata: JsonObject = Field(default_factory=dict)

    @model_validator(mode="after")
    def _fill_data_type(self) -> ScoreCreate:
        if self.data_type is None:
            self.data_type = infer_data_type(self.value)
        return self

    @property
    def numeric_value(self) -> float | None:
        if isinstance(self.value, bool):
            return 1.0 if self.value else 0.0
        if isinstance(self.value, int | float):
            return float(self.value)
        return None

    @property
    def string_value(self) -> str | None:
        if isinstance(self.value, str):
            return self.value
        if isinstance(self.value, bool):
            return "true" if self.value else "false"
        return None
