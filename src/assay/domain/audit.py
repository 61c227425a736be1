"""The audit log: destructive and security-relevant actions, who did them and when."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from assay.domain.common import JsonObject, Record

#: ``actor`` of changes made on the server's own machine: the CLI, or a server without keys.
CLI_ACTOR = "cli"
LOCAL_ACTOR = "local"


class AuditEntry(Record):
    id: str
    project_id: str
    at: datetime
    actor: str = Field(
        description="The API key's public key, 'cli' for the command line, or 'local' for a "
        "server running without keys."
    )
    action: str = Field(description="What was done, e.g. dataset.delete or key.create.")
    target_kind: str = Field(description="dataset, item, experiment, evaluator, endpoint, key…")
    target_id: str
    details: JsonObject = Field(default_factory=dict)
