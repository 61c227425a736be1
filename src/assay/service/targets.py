"""Target specs resolved into targets: an API experiment's ``config``, a run config's or
``evaluate()``'s ``target`` spec, and a stored experiment's config when a worker runs it.

Every surface takes a target spec naming a kind (``{"type": "prompt", "prompt":
"support-answer", "label": "production", "model": ...}``, ``{"type": "endpoint", "endpoint":
"my-bot"}``, ``{"type": "http", "url": ...}``; see :mod:`assay.targets.registry`).
:class:`StoreTargets` reads the stored prompts and saved endpoints those kinds name, and
:func:`target_from_spec` builds them with the price table.

An API ``config`` is such a spec (``prompt``, ``endpoint`` or ``http`` only: the server imports
no functions) or the older form: ``prompt_name`` with ``prompt_label`` or ``prompt_version``,
``model``, ``temperature``, ``max_tokens``, optional ``provider``, ``base_url`` or
``connection``; ``endpoint_id`` (a saved endpoint; its secret headers are sent, never echoed);
or an inline ``endpoint`` object. Either way a label is pinned to its version at creation. The
run settings the experiment was created with beyond concurrency and trials are kept in
``config["options"]``. Scorers come from ``evaluator_ids`` and inline ``scorers`` specs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assay.config import Settings
from assay.domain import MODEL_OPTIONS, Experiment, RunSettings
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


def pin(store: Store, settings: Settings, raw: dict[str, Any]) -> dict[str, Any]:
    """Validate ``config`` and pin a prompt label (or the newest) to its version number.

    The label stays in the stored config for display; the pinned version is what runs.
    """
    if "type" in raw:
        return _pin_spec(store, settings, raw)
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


#: Target kinds an API experiment may run (no ``function``: the server imports no code).
API_KINDS = ("prompt", "endpoint", "http")
#: Where a run's settings beyond concurrency and trials are kept in an API experiment's config.
OPTIONS_KEY = "options"
_MODEL_KEYS = frozenset(MODEL_OPTIONS)


class StoreTargets:
    """Stored prompts and saved endpoints read for the ``prompt`` and ``endpoint`` kinds."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def prompt(self, name: str, *, label: str | None, version: int | None) -> dict[str, Any]:
        try:
            try:
                prompt = self.store.prompts.get(name, version=version, label=label)
            except NotFound:
                self.store.prompts.get(name)  # an unknown prompt is named as such first
                raise
        except NotFound as exc:
            where = exc.details.get("field")
            field = {"label": "label", "version": "version"}.get(str(where), "prompt")
            raise NotFound(f"target.{field}: {exc.message}", field=f"target.{field}") from None
        spec: dict[str, Any] = {
            k: v for k, v in prompt.model_config_.items() if k in _MODEL_KEYS and v is not None
        }
        if prompt.template is not None:
            spec["prompt"] = prompt.template
        else:
            spec["messages"] = prompt.messages
        source = {"prompt": prompt.name, "version": prompt.version}
        spec["source"] = source | ({"label": label} if label else {})
        return spec

    def endpoint(self, ref: str) -> tuple[dict[str, Any], dict[str, str]]:
        try:
            saved = self.store.endpoints.get(ref)
        except NotFound as exc:
            raise NotFound(f"target.endpoint: {exc.message}", field="target.endpoint") from None
        spec = {
            "url": saved.url,
            "method": saved.method,
            "headers": saved.headers,
            "body": saved.body_template,
            "output_path": saved.output_path,
            "timeout": saved.timeout_s,
            "source": {"endpoint": saved.name, "id": saved.id},
        }
        return spec, self.store.endpoints.secrets(saved.id)


def build_context(
    store: Store, settings: Settings, base_dir: Path | None = None, outbound: Policy | None = None
) -> BuildContext:
    """What target factories read: stored connections, stored prompts and endpoints, the price
    table, the directory a run config's relative imports start from, and the policy guarding
    a tenant's URLs."""
    return BuildContext(
        store=store,
        prices=PriceTable.load(settings.price_table),
        base_dir=base_dir,
        outbound=outbound,
        stored=StoreTargets(store),
    )


def target_from_spec(
    store: Store, settings: Settings, spec: dict[str, Any], base_dir: Path | None = None
) -> Target:
    """A target of a registered kind from its spec (``{"type": "prompt", ...}``)."""
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
        "task must be a function, a target, or a target spec like "
        "{'type': 'prompt', 'prompt': NAME, 'label': 'production'}",
        field="task",
    )


def run_options(config: dict[str, Any]) -> RunSettings:
    """The run settings an API experiment was created with (its config's ``options``)."""
    return RunSettings(**(config.get(OPTIONS_KEY) or {}))


def with_options(config: dict[str, Any], settings: RunSettings) -> dict[str, Any]:
    """``config`` keeping the run settings that are not columns of their own."""
    kept = {k: v for k, v in settings.changed().items() if k not in ("concurrency", "trials")}
    return {**config, OPTIONS_KEY: kept} if kept else config


def _spec(config: dict[str, Any]) -> dict[str, Any]:
    """The target spec of an API config, either form."""
    if "type" in config:
        return {k: v for k, v in config.items() if k != OPTIONS_KEY}
    legacy = parse_config({k: v for k, v in config.items() if k != OPTIONS_KEY})
    if legacy.endpoint is not None:
        return {"type": "http", **legacy.endpoint.model_dump()}
    if legacy.endpoint_id is not None:
        return {"type": "endpoint", "endpoint": legacy.endpoint_id}
    spec: dict[str, Any] = {"type": "prompt", "prompt": legacy.prompt_name}
    spec["version"] = legacy.prompt_version or "latest"
    for key in ("model", "provider", "temperature", "max_tokens", "base_url", "connection"):
        if getattr(legacy, key) is not None:
            spec[key] = getattr(legacy, key)
    return spec


def _pin_spec(store: Store, settings: Settings, config: dict[str, Any]) -> dict[str, Any]:
    """A spec-form config checked by building it, its label or ``latest`` pinned to a version
    and its endpoint to an id."""
    kind = config.get("type")
    if kind not in API_KINDS:
        raise InvalidInput(
            f"config.type: one of {', '.join(API_KINDS)} (got {kind!r})", field="config.type"
        )
    target = target_from_spec(store, settings, config)
    source = getattr(target, "source", None) or {}
    pinned = dict(config)
    if kind == "prompt" and "version" in source:
        pinned["version"] = source["version"]
    if kind == "endpoint" and "id" in source:
        pinned["endpoint"] = source["id"]
    return pinned


def build_target(store: Store, settings: Settings, raw: dict[str, Any]) -> Target:
    """The target of a pinned config; its URLs are checked (after DNS) by the server's policy
    now, and again on every connection the target makes."""
    policy = server_policy(settings)
    target = create_target(_spec(raw), build_context(store, settings, outbound=policy))
    if isinstance(target, HttpTarget):
        policy.screen_url(target.url)
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
