"""Saved configurations: evaluators, prompts, endpoints, provider connections, projects, keys."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints

from assay.domain.common import Input, JsonObject, Record
from assay.domain.redaction import RedactedHeaders, RedactedObject


class Project(Record):
    id: str
    name: str
    created_at: datetime


class KeyRole(StrEnum):
    """What an API key may do; each role includes the ones before it."""

    read = "read"  # GET and HEAD only
    write = "write"  # every change except the admin actions
    admin = "admin"  # also the audit log and deletes of datasets and experiments

    def allows(self, needed: KeyRole) -> bool:
        order = list(KeyRole)
        return order.index(self) >= order.index(needed)


class ApiKey(Record):
    id: str
    project_id: str
    name: str | None
    public_key: str
    role: KeyRole = KeyRole.write
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None
    revoked_at: datetime | None


class Evaluator(Record):
    id: str
    project_id: str
    name: str
    version: int
    kind: str = Field(description="Registered scorer name, e.g. exact_match or llm_judge.")
    params: RedactedObject
    mapping: dict[str, str]
    threshold: JsonObject | None
    created_at: datetime


class EvaluatorCreate(Input):
    """A saved scorer configuration; saving an existing name creates its next version."""

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    kind: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] = (
        Field(description="Registered scorer name, e.g. exact_match or contains.")
    )
    params: JsonObject = Field(default_factory=dict)
    mapping: dict[str, str] = Field(
        default_factory=dict, description="Scorer variable → field path, e.g. input.query."
    )
    threshold: JsonObject | None = Field(
        default=None, description='Pass/fail rule, e.g. {"gte": 0.8} or {"in": ["good"]}.'
    )


class Prompt(Record):
    id: str
    project_id: str
    name: str
    version: int
    template: str | None
    messages: list[JsonObject] | None
    model_config_: RedactedObject = Field(alias="model_config")
    labels: list[str]
    created_at: datetime


class Endpoint(Record):
    """An HTTP API record. Secret headers are write-only: only their names come back."""

    id: str
    project_id: str
    name: str
    url: str
    method: str
    headers: RedactedHeaders
    secret_header_names: list[str]
    body_template: str | None
    output_path: str | None
    timeout_s: float
    created_at: datetime
    updated_at: datetime


class Connection(Record):
    """A stored provider connection (OpenAI-compatible or Anthropic). The key is never echoed."""

    id: str
    project_id: str
    name: str
    provider: str
    base_url: str | None
    has_api_key: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a provider call needs; never rendered by any interface."""

    provider: str
    base_url: str | None
    api_key: str | None
