"""Run configs: the YAML (or JSON) file ``assay run`` reads, validated with errors naming fields.

.. code-block:: yaml

    name: baseline
    dataset: support-qa
    target: {type: function, function: "bot:answer"}
    scorers: [exact_match, {name: contains, params: {ignore_case: true}}]
    concurrency: 10
    timeout: 30
    max_retries: 3
    backoff: {base: 1, max: 30}
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from assay.domain import RunSettings, Selection
from assay.engine.options import RunOptions
from assay.errors import InvalidInput, from_validation


class RunConfig(RunSettings):
    """Everything one experiment run needs besides the store: the run settings (concurrency,
    trials, retries, backoff, timeout, rpm/tpm, budget, cache) at the top level."""

    name: str | None = Field(default=None, min_length=1, max_length=300)
    description: str | None = None
    dataset: str = Field(min_length=1)
    dataset_version: int | None = Field(default=None, ge=0)
    target: dict[str, Any]
    scorers: list[str | dict[str, Any]] = Field(default_factory=list)
    evaluators: list[str] = Field(default_factory=list)
    default_evaluators: bool = True
    writer: Literal["thread", "process", "auto"] = "auto"
    select: Selection | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    run_tag: str | None = None

    def with_settings(self, **overrides: Any) -> RunConfig:
        """This config with run settings replaced (command-line flags; None: keep), validated
        like the file."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if not given:
            return self
        try:
            return RunConfig(**{**self.model_dump(exclude_unset=True), **given})
        except ValidationError as exc:
            raise from_validation(exc) from None

    def options(self, **extra: Any) -> RunOptions:
        """The engine's options; ``extra`` (None: keep) overrides or adds engine-only ones."""
        given = {k: v for k, v in extra.items() if v is not None}
        return RunOptions.from_settings(self, **{"writer": self.writer, **given})


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
