"""Target specs resolved into targets: an API experiment's ``config``, a run config's or
``evaluate()``'s ``target`` spec, and a stored experiment's config when a worker runs it.

``config`` takes one of two forms. A prompt: ``prompt_name`` with ``prompt_label`` or
``prompt_version`` (resolved from the prompts repository and pinned to a version at creation),
``model``, ``temperature``, ``max_tokens``, optional ``provider``, ``base_url`` or ``connection``.
An endpoint: ``endpoint_id`` (a saved endpoint; its secret headers are sent, never echoed) or an
inline ``endpoint`` object. Scorers come from ``evaluator_ids`` and inline ``scorers`` specs.

Run configs and ``evaluate()`` name a target kind instead (``{"type": "http", ...}``, see
:mod:`assay.targets.registry`); :func:`target_from_spec` builds those with the same price table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assay.config import Settings
from assay.domain import Experiment
from assay.engine import build_scorers, config_hash
from assay.errors import InvalidInput, NotFound, from_validation
from assay.outbound import Policy, server_policy
from assay.scoring.build import build as build_scorer
from assay.store import Store
from assay.targets import BuildContext, FunctionTarget, PriceTable, Target, create_target
from assay.targets.http import HttpTarget


class InlineEndpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1)
    method: Literal["GET", "POST", "PUT", "PATCH"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    output_path: str | None = None
    timeout: float = Field(default=30.0, gt=0, le=600)


class ExperimentConfig(BaseModel):
    """The ``config`` object of an API experiment (seed form)."""

    model_config = ConfigDict(extra="forbid")

    prompt_name: str | None = Field(default=None, min_length=1)
    prompt_label: str | None = Field(default=None, min_length=1)
    prompt_version: int | None = Field(default=None, ge=1)
    model: str | None = Field(default=None, min_length=1)
    provider: Literal["openai", "anthropic"] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1)
    base_url: str | None = None
    connection: str | None = None
    endpoint_id: str | None = Field(default=None, min_length=1)
    endpoint: InlineEndpoint | None = None


def parse_config(raw: dict[str, Any]) -> ExperimentConfig:
    try:
        config = ExperimentConfig(**raw)
    except ValidationError as exc:
        raise from_validation(exc, prefix="config.") from None
    kinds = [config.prompt_name, config.endpoint_id, config.endpoint]
    if sum(k is not None for k in kinds) != 1:
        raise InvalidInput(
            "config: give exactly one of prompt_name, endpoint_id or endpoint", field="config"
        )
    return config


def pin(store: Store, raw: dict[str, Any]) -> dict[str, Any]:
    """Validate ``config`` and pin a prompt label (or the newest) to its version number.

    The label stays in the stored config for display; the pinned ``prompt_version`` is what runs.
    """
    config = parse_config(raw)
    if config.prompt_label is not None and config.prompt_version is not None:
        raise InvalidInput(
            "config: give prompt_label or prompt_version, not both", field="config.prompt_label"
        )
    if config.prompt_name is not None:
        try:
            prompt = store.prompts.get(
                config.prompt_name, version=config.prompt_version, label=config.prompt_label
            )
        except NotFound as exc:
            where = {"label": "prompt_label", "version": "prompt_version"}
            field = where.get(str(exc.details.get("field")), "prompt_name")
            raise NotFound(exc.message, field=f"config.{field}") from None
        if not (config.model or prompt.model_config_.get("model")):
            raise InvalidInput(
                f"config.model: required (prompt {prompt.name!r} v{prompt.version} names no model)",
                field="config.model",
            )
        config.prompt_version = prompt.version
    elif config.endpoint_id is not None:
        try:
            config.endpoint_id = store.endpoints.get(config.endpoint_id).id
        except NotFound as exc:
            raise NotFound(exc.message, field="config.endpoint_id") from None
    return config.model_dump(exclude_none=True, mode="json")


def build_context(
    store: Store, settings: Settings, base_dir: Path | None = None, outbound: Policy | None = None
) -> BuildContext:
    """What target factories read: stored connections, the price table, the directory a run
    config's relative imports start from, and the policy guarding a tenant's URLs."""
    return BuildContext(
        store=store,
        prices=PriceTable.load(settings.price_table),
        base_dir=base_dir,
        outbound=outbound,
    )


def target_from_spec(
    store: Store, settings: Settings, spec: dict[str, Any], base_dir: Path | None = None
) -> Target:
    """A target of a registered kind from its spec (``{"type": "http", ...}``)."""
    return create_target(spec, build_context(store, settings, base_dir))


def as_target(task: Any, store: Store, settings: Settings) -> Target:
    """``evaluate()``'s task as a target: a callable, a target object, or a spec dict."""
    if isinstance(task, dict):
        return target_from_spec(store, settings, task)
    if hasattr(task, "spec") and hasattr(task, "call") and hasattr(task, "kind"):
        return task  # type: ignore[no-any-return]
    if callable(task):
        return FunctionTarget(task)
    raise InvalidInput(
        "task must be a function, a target, or a target spec like {'type': 'http', ...}",
        field="task",
    )


def build_target(store: Store, settings: Settings, raw: dict[str, Any]) -> Target:
    """The target of a pinned config; its URLs are checked (after DNS) by the server's policy
    now, and again on every connection the target makes."""
    config = parse_config(raw)
    policy = server_policy(settings)
    context = build_context(store, settings, outbound=policy)
    if config.prompt_name is not None:
        prompt = store.prompts.get(config.prompt_name, version=config.prompt_version)
        defaults = prompt.model_config_
        spec: dict[str, Any] = {
            "type": "prompt",
            "model": config.model or defaults.get("model"),
            "provider": config.provider or defaults.get("provider") or "openai",
        }
        if prompt.template is not None:
            spec["prompt"] = prompt.template
        else:
            spec["messages"] = prompt.messages
        temperature = config.temperature
        if temperature is None and isinstance(defaults.get("temperature"), int | float):
            temperature = float(defaults["temperature"])
        for key, value in (
            ("temperature", temperature),
            ("max_tokens", config.max_tokens),
            ("base_url", config.base_url),
            ("connection", config.connection),
        ):
            if value is not None:
                spec[key] = value
        return create_target(spec, context)
    if config.endpoint_id is not None:
        saved = store.endpoints.get(config.endpoint_id)
        policy.screen_url(saved.url)
        return HttpTarget(
            saved.url,
            method=saved.method,
            headers=saved.headers,
            body=saved.body_template,
            output_path=saved.output_path,
            timeout=saved.timeout_s,
            secret_headers=store.endpoints.secrets(saved.id),
            outbound=policy,
        )
    assert config.endpoint is not None
    target = create_target({"type": "http", **config.endpoint.model_dump()}, context)
    policy.screen_url(config.endpoint.url)
    return target


def build_scorer_list(
    store: Store, evaluator_ids: list[str], specs: list[dict[str, Any]]
) -> list[Any]:
    """Saved evaluators (by id or name) followed by inline scorer specs."""
    scorers: list[Any] = []
    for i, ref in enumerate(evaluator_ids):
        try:
            scorers.append(build_scorer(store.evaluators.get(ref)))
        except InvalidInput as exc:
            raise InvalidInput(f"evaluator_ids[{i}]: {exc.message}", **exc.details) from None
    return scorers + list(specs)


def hash_for(target: Target, scorers: list[Any]) -> str:
    _, recorded = build_scorers(scorers)
    return config_hash(target.spec(), recorded)


def runnable(store: Store, settings: Settings, experiment: Experiment) -> tuple[Target, list[Any]]:
    """The target and scorers of a stored experiment, ready for a runner."""
    target = build_target(store, settings, experiment.config)
    return target, build_scorer_list(store, experiment.evaluator_ids, experiment.scorers)
