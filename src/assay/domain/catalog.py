"""Saved configurations: evaluators, prompts, endpoints, provider connections, projects, keys."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from assay.domain.common import JsonObject, Record


class Project(Record):
    id: str
    name: str
    created_at: datetime


class ApiKey(Record):
    id: str
    project_id: str
    name: str | None
    public_key: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class Evaluator(Record):
    id: str
    project_id: str
    name: str
    version: int
    kind: str = Field(description="Registered scorer name, e.g. exact_match or llm_judge.")
    params: JsonObject
    mapping: dict[str, str]
    threshold: JsonObject | None
    created_at: datetime


class Prompt(Record):
    id: str
    project_id: str
    name: str
    version: int
    template: str | None
    messages: list[JsonObject] | None
    model_config_: JsonObject = Field(alias="model_config")
    labels: list[str]
    created_at: datetime


class Endpoint(Record):
    """An HTTP API record. Secret headers are write-only: only their names come back."""

    id: str
    project_id: str
    name: str
    url: str
    method: str
    headers: dict[str, str]
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
