"""Settings: one object, built once at the edge (CLI, server, SDK) and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    """Everything Assay reads from the environment (prefix ``ASSAY_``)."""

    model_config = SettingsConfigDict(env_prefix="ASSAY_", extra="ignore")

    home: Path = Field(
        default_factory=lambda: Path.home() / ".assay",
        description="Directory for the embedded database and local state.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default is SQLite at $ASSAY_HOME/assay.db.",
    )
    project: str = Field(default="default", description="Project used by the CLI and SDK.")
    sqlite_busy_timeout_ms: int = Field(default=30_000, ge=0)
    import_batch_size: int = Field(default=5_000, ge=1, le=100_000)
    echo_sql: bool = False
    price_table: Path | None = Field(
        default=None,
        description="JSON file of token prices merged over the shipped table (per 1M tokens).",
    )
    auth: Literal["none", "keys"] = Field(
        default="none",
        description="Server authentication: 'none' (single user, loopback only) or 'keys'.",
    )
    max_request_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1024, description="Largest request body the server accepts."
    )
    outbound_allow: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts, IPs or CIDR networks that outbound calls may reach even when private "
        "(comma-separated in ASSAY_OUTBOUND_ALLOW).",
    )
    serve_worker: bool = Field(
        default=True,
        description="Run started experiments inside `assay serve`; false leaves them to "
        "`assay worker` processes.",
    )
    worker_poll_interval: float = Field(
        default=1.0, gt=0, description="Seconds between a worker's looks for started experiments."
    )
    worker_stale_after: float = Field(
        default=30.0, gt=0, description="Seconds without a heartbeat before a run is taken over."
    )
    online_settle_s: float = Field(
        default=5.0,
        ge=0,
        description="Seconds a trace must go without new spans before online rules score it.",
    )
    online_lease_s: float = Field(
        default=300.0,
        gt=0,
        description="Seconds a worker holds the traces it took for online evaluation before "
        "another may take them.",
    )
    online_concurrency: int = Field(
        default=8, ge=1, le=256, description="Traces a worker scores at once for online rules."
    )
    ray_address: str | None = Field(
        default=None,
        description="Ray cluster (e.g. ray://head:10001 or auto) that server workers run "
        "experiments on, as shards (the `ray` extra); unset: in the worker's process.",
    )
    rate_limit_auth_failures: int = Field(
        default=30,
        ge=0,
        description="Failed authentications a client IP may make per minute (burst as large); "
        "then 429 with Retry-After. 0: no limit.",
    )
    rate_limit_requests: int = Field(
        default=6000,
        ge=0,
        description="Requests an API key may make per minute (burst as large); then 429 with "
        "Retry-After. 0: no limit.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Server key that encrypts stored secrets and peppers API key hashes; "
        "default: generated once into $ASSAY_HOME/secret.key (mode 0600).",
    )

    @field_validator("outbound_allow", mode="before")
    @classmethod
    def _split_allow(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def resolved_database_url(self) -> str:
        """The database URL, with the embedded SQLite default filled in."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home.expanduser() / 'assay.db'}"
