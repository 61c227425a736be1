"""One registry of target kinds: ``function``, ``http``, ``prompt``, ``endpoint`` and whatever
plugins add.

Every surface names its target as ``{"type": KIND, ...options}``. Each kind registers a factory
taking the options and a :class:`BuildContext` (stored connections, stored prompts and
endpoints, price table, directory of the config file for imports, the guard on URLs). Nothing is
registered by importing a module: the first lookup (:func:`target_kinds`,
:func:`create_target`) registers the built-in kinds and has :mod:`assay.plugins` load the
``assay.plugins`` entry points once, whose modules register their kinds with
:func:`register_target`. Kinds registered before that lookup are kept over built-ins of the same
name.

A ``prompt`` target is inline (``prompt`` is the template, or ``messages``) or stored: with
``label`` or ``version`` (``"latest"`` for the newest), ``prompt`` names a stored prompt whose
messages and model settings :class:`StoredTargets` reads. An ``endpoint`` target is a saved
endpoint by name or id. Both build the inline kinds' targets; reading what is stored is
``assay.service``'s (this package never imports the store).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assay import plugins
from assay.domain import MODEL_OPTIONS, Credentials, ModelOptions
from assay.errors import InvalidInput, from_validation
from assay.outbound import Policy
from assay.targets.base import Target
from assay.targets.function import FunctionTarget, import_function
from assay.targets.http import HttpTarget
from assay.targets.pricing import PriceTable
from assay.targets.prompt import PromptTarget
from assay.targets.providers import default_url, same_url


class Connections(Protocol):
    def credentials(self, ref: str) -> Credentials: ...


class ConnectionSource(Protocol):
    """Where stored provider connections are read: an ``assay.store.Store``."""

    @property
    def connections(self) -> Connections: ...


class StoredTargets(Protocol):
    """Reads stored prompts and saved endpoints for the ``prompt`` and ``endpoint`` kinds.

    Errors are ``NotFound`` naming ``target.prompt``, ``target.label``, ``target.version``
    or ``target.endpoint``.
    """

    def prompt(self, name: str, *, label: str | None, version: int | None) -> dict[str, Any]:
        """An inline prompt spec (``messages`` or ``prompt``, ``system``, and the prompt's
        model settings) plus ``source``: ``{"prompt", "version", "label"}``."""
        ...

    def endpoint(self, ref: str) -> tuple[dict[str, Any], dict[str, str]]:
        """An inline ``http`` spec of a saved endpoint (plus ``source``) and its secret
        headers."""
        ...


@dataclass
class BuildContext:
    store: ConnectionSource | None = None
    prices: PriceTable | None = None
    base_dir: Path | None = None
    outbound: Policy | None = None  # the guard on URLs the spec names (the server's)
    stored: StoredTargets | None = None
    extra: dict[str, Any] = field(default_factory=dict)


Factory = Callable[[dict[str, Any], BuildContext], Target]
_REGISTRY: dict[str, Factory] = {}
_builtins_registered = False


def register_target(kind: str, factory: Factory) -> Factory:
    """Make ``factory`` build targets of ``type: kind``."""
    _REGISTRY[kind] = factory
    return factory


def target_kinds() -> list[str]:
    _ensure()
    return sorted(_REGISTRY)


def _ensure() -> None:
    """Register the built-in kinds once, then load the plugins (once, in :mod:`assay.plugins`)."""
    global _builtins_registered
    if not _builtins_registered:
        _builtins_registered = True
        for kind, made in (
            ("function", _function),
            ("http", _http),
            ("prompt", _prompt),
            ("endpoint", _endpoint),
        ):
            _REGISTRY.setdefault(kind, made)
    plugins.load()


def create_target(spec: dict[str, Any], context: BuildContext | None = None) -> Target:
    """Build a target from its spec (``{"type": ..., ...}``), with errors naming the field."""
    if not isinstance(spec, dict):
        raise InvalidInput("target: expected an object with a 'type'", field="target")
    kind = spec.get("type")
    if not isinstance(kind, str):
        raise InvalidInput(
            f"target.type: required, one of {', '.join(target_kinds())}", field="target.type"
        )
    _ensure()
    factory = _REGISTRY.get(kind)
    if factory is None:
        raise InvalidInput(
            f"target.type: unknown target type {kind!r}; available: {', '.join(target_kinds())}",
            field="target.type",
        )
    options = {k: v for k, v in spec.items() if k != "type"}
    return factory(options, context or BuildContext())


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


S = TypeVar("S", bound=BaseModel)


class FunctionSpec(_Spec):
    function: str = Field(min_length=3, description="module:attribute")
    timeout: float | None = Field(default=None, gt=0)


class HttpSpec(_Spec):
    url: str
    method: str = "POST"
    headers: dict[str, str] = Field(default_factory=dict)
    body: Any = None
    output_path: str | None = None
    timeout: float = Field(default=30.0, gt=0)
    source: dict[str, Any] | None = None


class EndpointSpec(_Spec):
    endpoint: str = Field(min_length=1, description="A saved endpoint's name or id.")
    timeout: float | None = Field(default=None, gt=0)


class PromptSpec(ModelOptions):
    """Model options (provider, model, temperature, max_tokens, timeout, rpm, tpm, price…)
    and an inline prompt (``prompt`` template or ``messages``) or a stored one (``prompt``
    names it, with ``label`` or ``version``)."""

    prompt: str | None = None
    label: str | None = Field(default=None, min_length=1)
    version: int | Literal["latest"] | None = None
    messages: list[dict[str, Any]] | None = None
    system: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    base_url: str | None = None
    connection: str | None = None
    source: dict[str, Any] | None = None

    @property
    def stored(self) -> bool:
        return self.label is not None or self.version is not None


def _resolver(context: BuildContext, field: str) -> StoredTargets:
    if context.stored is None:
        raise InvalidInput(
            f"target.{field}: a stored {field} needs a store (run it with assay run, "
            "evaluate() or the server)",
            field=f"target.{field}",
        )
    return context.stored


def _parse(model: type[S], options: dict[str, Any]) -> S:
    try:
        return model(**options)
    except ValidationError as exc:
        raise from_validation(exc, prefix="target.") from None


def _function(options: dict[str, Any], context: BuildContext) -> Target:
    spec = _parse(FunctionSpec, options)
    search = [context.base_dir] if context.base_dir else None
    fn = import_function(spec.function, search_path=search)
    return FunctionTarget(fn, name=spec.function, timeout=spec.timeout)


def _http(options: dict[str, Any], context: BuildContext) -> Target:
    spec = _parse(HttpSpec, options)
    return HttpTarget(
        spec.url,
        method=spec.method,
        headers=spec.headers,
        body=spec.body,
        output_path=spec.output_path,
        timeout=spec.timeout,
        outbound=context.outbound,
        source=spec.source,
    )


def _endpoint(options: dict[str, Any], context: BuildContext) -> Target:
    spec = _parse(EndpointSpec, options)
    saved, secrets = _resolver(context, "endpoint").endpoint(spec.endpoint)
    if spec.timeout is not None:
        saved["timeout"] = spec.timeout
    http = _parse(HttpSpec, saved)
    return HttpTarget(
        http.url,
        method=http.method,
        headers=http.headers,
        body=http.body,
        output_path=http.output_path,
        timeout=http.timeout,
        secret_headers=secrets,
        source=http.source,
        outbound=context.outbound,
    )


def _stored_prompt(spec: PromptSpec, context: BuildContext) -> PromptSpec:
    """The inline spec of a stored prompt, the spec's own model options over the prompt's."""
    if spec.prompt is None:
        raise InvalidInput("target.prompt: name the stored prompt", field="target.prompt")
    if spec.messages is not None or spec.system is not None:
        given = "messages" if spec.messages is not None else "system"
        raise InvalidInput(
            f"target.{given}: a stored prompt brings its own messages", field=f"target.{given}"
        )
    version = None if spec.version == "latest" else spec.version
    label = spec.label if version is None else None  # a pinned version wins over its label
    stored = _resolver(context, "prompt").prompt(spec.prompt, label=label, version=version)
    own = spec.model_dump(include=spec.model_fields_set - {"prompt", "label", "version", "source"})
    merged = _parse(PromptSpec, {**stored, **own})
    if merged.model is None:
        source = stored.get("source") or {}
        raise InvalidInput(
            f"target.model: required (prompt {spec.prompt!r} v{source.get('version')} "
            "names no model)",
            field="target.model",
        )
    return merged


def _prompt(options: dict[str, Any], context: BuildContext) -> Target:
    spec = _parse(PromptSpec, options)
    if spec.stored:
        spec = _stored_prompt(spec, context)
    model = ModelOptions(**spec.model_dump(include=set(MODEL_OPTIONS) & spec.model_fields_set))
    base_url, api_key = spec.base_url, None
    if spec.connection:
        if context.store is None:
            raise InvalidInput(
                "target.connection: stored connections need a store", field="target.connection"
            )
        creds = context.store.connections.credentials(spec.connection)
        model = model.model_copy(update={"provider": creds.provider})
        own = creds.base_url or default_url(creds.provider)
        if base_url is not None and not same_url(base_url, own):
            raise InvalidInput(
                f"target.base_url: connection {spec.connection!r} sends its key only to its "
                f"own URL ({own}); leave base_url out, or save a connection for {base_url}",
                field="target.base_url",
            )
        base_url, api_key = own, creds.api_key
    return PromptTarget(
        model,
        prompt=spec.prompt,
        messages=spec.messages,
        system=spec.system,
        params=spec.params,
        base_url=base_url,
        api_key=api_key,
        connection=spec.connection,
        prices=context.prices,
        source=spec.source,
        outbound=context.outbound,
    )
