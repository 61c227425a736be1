"""Run configs: the YAML (or JSON) file ``assay run`` reads, validated with errors naming fields.

.. code-block:: yaml

    name: baseline
    dataset: support-qa
    target: {type: function, function: "bot:answer"}
    scorers: [exact_match, {name: contains, params: {ignore_case: true}}]
    concurrency: 10
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assay.domain import Selection
from assay.engine.options import RunOptions
from assay.errors import InvalidInput, from_validation


class Backoff(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base: float = Field(default=2.0, ge=0)
    max: float = Field(default=60.0, ge=0)


class RunConfig(BaseModel):
    """Everything one experiment run needs besides the store."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = None
    dataset: str = Field(min_length=1)
    dataset_version: int | None = Field(default=None, ge=0)
    target: dict[str, Any]
    scorers: list[str | dict[str, Any]] = Field(default_factory=list)
    evaluators: list[str] = Field(default_factory=list)
    default_evaluators: bool = True
    concurrency: int = Field(default=10, ge=1, le=10_000)
    trials: int = Field(default=1, ge=1, le=1_000)
    max_retries: int = Field(default=5, ge=0, le=100)
    backoff: Backoff = Field(default_factory=Backoff)
    timeout: float | None = Field(default=None, gt=0)
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    adaptive_concurrency: bool = True
    max_cost: float | None = Field(default=None, gt=0)
    cache: bool = False
    writer: Literal["thread", "process", "auto"] = "thread"
    select: Selection | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    run_tag: str | None = None

    def options(self, **overrides: Any) -> RunOptions:
        values: dict[str, Any] = {
            "concurrency": self.concurrency,
            "max_retries": self.max_retries,
            "backoff_base": self.backoff.base,
            "backoff_max": self.backoff.max,
            "timeout": self.timeout,
            "rpm": self.rpm,
            "tpm": self.tpm,
            "adaptive_concurrency": self.adaptive_concurrency,
            "max_cost": self.max_cost,
            "cache": self.cache,
            "writer": self.writer,
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return RunOptions(**values)


def parse_run_config(data: Any, source: str = "config") -> RunConfig:
    if not isinstance(data, dict):
        raise InvalidInput(f"{source}: expected a mapping of settings", field="config")
    try:
        return RunConfig(**data)
    except ValidationError as exc:
        error = from_validation(exc)
        raise InvalidInput(f"{source}: {error.message}", field=error.field) from None


def load_run_config(path: Path) -> RunConfig:
    """Read and validate a run config file (YAML, of which JSON is a subset)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field="config") from None
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise InvalidInput(f"{path}:{where}: invalid YAML: {problem}", field="config") from None
    return parse_run_config(data, str(path))
