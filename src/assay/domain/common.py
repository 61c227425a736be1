"""Shapes shared by every record."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue

T = TypeVar("T")

JSON = JsonValue
JsonObject = dict[str, Any]


class Record(BaseModel):
    """Base for what storage returns and every interface renders. Immutable."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Input(BaseModel):
    """Base for what callers send: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Page(BaseModel, Generic[T]):
    """One page of a keyset-paginated list; pass ``next_cursor`` back to get the next one."""

    items: list[T]
    next_cursor: str | None = None
    prev_cursor: str | None = Field(
        default=None, description="Pass back as ``cursor`` for the previous page, where offered."
    )
    total: int | None = Field(default=None, description="Total matching rows, when cheap to count.")


class Timestamps(Record):
    created_at: datetime
    updated_at: datetime
