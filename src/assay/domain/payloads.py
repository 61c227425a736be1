"""Request and response shapes of the REST API that are not stored records themselves."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AliasChoices,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from assay.domain.catalog import ApiKey
from assay.domain.common import Input, JsonObject, Record
from assay.domain.datasets import Dataset, Item, ItemCreate

PromptName = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=200, pattern=r"^[^/\s][^/]*$"
    ),
]
Label = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=r"^[^/\s]+$"),
]
HeaderName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[!-9;-~]+$")]


class DatasetDetail(Dataset):
    """A dataset with its most recently added items."""

    recent_items: list[Item]


class ImportRequest(Input):
    """The JSON body of ``POST /datasets/{id}/import/``: items appended as one new version."""

    items: list[ItemCreate] = Field(min_length=1)


class ImportResult(Record):
    dataset_id: str
    imported: int
    total_items: int
    version: int


class FromRunRequest(Input):
    """Turn a recorded trace (a production run) into a dataset item."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    run_id: str = Field(
        min_length=1,
        max_length=64,
        validation_alias=AliasChoices("run_id", "runId", "trace_id", "traceId"),
    )


class CreateItemsRequest(Input):
    """Items for a dataset named in the body, as the SDK's ``create_items`` sends them."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    dataset_name: str = Field(
        min_length=1, validation_alias=AliasChoices("dataset_name", "datasetName")
    )
    items: list[ItemCreate] = Field(min_length=1)


class PromptCreate(Input):
    """A new version of the prompt ``name``: a text ``template`` or chat ``messages``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, populate_by_name=True)

    name: PromptName
    template: str | None = None
    messages: list[JsonObject] | None = None
    model_config_: JsonObject = Field(
        default_factory=dict,
        alias="model_config",
        validation_alias=AliasChoices("model_config", "modelConfig", "config"),
    )
    labels: list[Label] = Field(default_factory=list)

    @field_validator("messages")
    @classmethod
    def _messages_have_roles(cls, value: list[JsonObject] | None) -> list[JsonObject] | None:
        for i, message in enumerate(value or []):
            if not isinstance(message.get("role"), str) or "content" not in message:
                raise ValueError(f"message {i} needs a string 'role' and a 'content'")
        return value

    @model_validator(mode="after")
    def _one_body(self) -> PromptCreate:
        if (self.template is None) == (self.messages is None):
            raise ValueError("give exactly one of 'template' or 'messages'")
        return self


class PromptLabels(Input):
    labels: list[Label]


class EndpointCreate(Input):
    """An HTTP endpoint an experiment can call. ``secret_headers`` are stored, never returned."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    method: Literal["GET", "POST", "PUT", "PATCH"] = "POST"
    headers: dict[HeaderName, str] = Field(default_factory=dict)
    secret_headers: dict[HeaderName, str] = Field(default_factory=dict)
    body_template: str | None = None
    output_path: str | None = Field(default=None, max_length=500)
    timeout_s: float = Field(default=30.0, gt=0, le=600, strict=True)


class EndpointUpdate(Input):
    """Fields to change. A new ``url`` drops the stored secret headers unless new ones are sent."""

    name: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
        | None
    ) = None
    url: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
        | None
    ) = None
    method: Literal["GET", "POST", "PUT", "PATCH"] | None = None
    headers: dict[HeaderName, str] | None = None
    secret_headers: dict[HeaderName, str] | None = None
    body_template: str | None = None
    output_path: str | None = Field(default=None, max_length=500)
    timeout_s: float | None = Field(default=None, gt=0, le=600, strict=True)


class ApiKeyCreated(Record):
    """A new key pair. The secret is shown once and stored only as a hash."""

    key: ApiKey
    secret_key: str


class Health(Record):
    status: Literal["ok"]
    version: str
    database: str
    auth: Literal["none", "keys"]
