"""Datasets, items, versions and diffs."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

import orjson
from pydantic import AliasChoices, ConfigDict, Field, StringConstraints, field_validator

from assay.domain.common import JSON, Input, JsonObject, Record

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class ItemSource(StrEnum):
    manual = "manual"
    import_ = "import"
    trace = "trace"
    run = "run"


def _check_schema(value: JsonObject | None) -> JsonObject | None:
    if value is not None:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
    return value


class DatasetCreate(Input):
    name: Name
    description: str | None = None
    tags: list[Tag] = Field(default_factory=list)
    metadata: JsonObject = Field(default_factory=dict)
    input_schema: JsonObject | None = None
    expected_output_schema: JsonObject | None = None

    _schemas = field_validator("input_schema", "expected_output_schema")(_check_schema)


class DatasetUpdate(Input):
    name: Name | None = None
    description: str | None = None
    tags: list[Tag] | None = None
    metadata: JsonObject | None = None
    input_schema: JsonObject | None = None
    expected_output_schema: JsonObject | None = None

    _schemas = field_validator("input_schema", "expected_output_schema")(_check_schema)


class Dataset(Record):
    id: str
    project_id: str
    name: str
    description: str | None
    tags: list[str]
    metadata: JsonObject
    input_schema: JsonObject | None
    expected_output_schema: JsonObject | None
    version: int = Field(description="Current version; bumps on every change to the items.")
    item_count: int = Field(description="Live (not archived) items at the current version.")
    created_at: datetime
    updated_at: datetime


class ItemCreate(Input):
    """A new item; the camelCase spellings (``expectedOutput``, ...) are accepted too."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    input: JsonObject | str
    expected_output: JSON = Field(
        default=None, validation_alias=AliasChoices("expected_output", "expectedOutput")
    )
    context: JSON = None
    metadata: JsonObject = Field(default_factory=dict)
    tags: list[Tag] = Field(default_factory=list)
    source: ItemSource = ItemSource.manual
    source_trace_id: str | None = Field(
        default=None, validation_alias=AliasChoices("source_trace_id", "sourceTraceId")
    )
    sort_order: int | None = Field(
        default=None, validation_alias=AliasChoices("sort_order", "sortOrder")
    )


_sha256 = hashlib.sha256
_dumps = orjson.dumps
_SORT_KEYS = orjson.OPT_SORT_KEYS


def content_hash(*values: Any) -> str:
    """A SHA-256 of JSON values (object keys sorted): equal content, equal hash."""
    return _sha256(_dumps(list(values), option=_SORT_KEYS)).hexdigest()


def item_content_hash(
    input: Any, expected_output: Any, context: Any, metadata: Any, tags: Iterable[str] | None
) -> str:
    """What makes two items the same item: input, expected output, context, metadata, tags.

    ``content_hash(input, expected_output, context, metadata or {}, sorted(tags))``, spelt
    out: bulk paths hash every item.
    """
    values = [input, expected_output, context, metadata or {}, sorted(tags) if tags else []]
    return _sha256(_dumps(values, option=_SORT_KEYS)).hexdigest()


def list_content_hash(item_hashes: Iterable[str]) -> str:
    """The content of a whole item list, whatever its order."""
    return content_hash(sorted(item_hashes))


class ItemUpdate(Input):
    """Fields to change; omitted fields keep their value."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    input: JsonObject | str | None = None
    expected_output: JSON = Field(
        default=None, validation_alias=AliasChoices("expected_output", "expectedOutput")
    )
    context: JSON = None
    metadata: JsonObject | None = None
    tags: list[Tag] | None = None
    sort_order: int | None = Field(
        default=None, validation_alias=AliasChoices("sort_order", "sortOrder")
    )
    archived: bool | None = None


class Item(Record):
    id: str
    dataset_id: str
    version: int = Field(description="Dataset version in which this state of the item appeared.")
    input: JsonObject | str
    expected_output: JSON
    context: JSON
    metadata: JsonObject
    tags: list[str]
    source: ItemSource
    source_trace_id: str | None
    sort_order: int
    archived: bool
    created_at: datetime
    updated_at: datetime

    def content(self) -> dict[str, Any]:
        """The user-visible fields, for diffs and exports."""
        return self.model_dump(
            include={"input", "expected_output", "context", "metadata", "tags", "sort_order"}
        )


class DatasetVersion(Record):
    dataset_id: str
    version: int
    created_at: datetime
    item_count: int
    added: int
    changed: int
    removed: int
    message: str | None


class ItemChange(Record):
    kind: Literal["added", "changed", "removed"]
    item_id: str
    before: Item | None
    after: Item | None
    fields: list[str] = Field(default_factory=list, description="Changed fields (kind=changed).")


class DatasetDiff(Record):
    dataset_id: str
    from_version: int
    to_version: int
    added: int
    changed: int
    removed: int
    changes: list[ItemChange]


ItemSort = Literal["sort_order", "-sort_order", "created_at", "-created_at"]
DatasetSort = Literal["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"]
