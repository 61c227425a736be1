"""One registry of target kinds: ``function``, ``http``, ``prompt`` and whatever plugins add.

A run config names its target as ``{"type": KIND, ...options}``. Each kind registers a factory
taking the options and a :class:`BuildContext` (store for stored connections, price table,
directory of the config file for imports). Nothing is registered by importing a module: the
first lookup (:func:`target_kinds`, :func:`create_target`) registers the built-in kinds and has
:mod:`assay.plugins` load the ``assay.plugins`` entry points once, whose modules register their
kinds with :func:`register_target`. Kinds registered before that lookup are kept over built-ins
of the same name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assay import plugins
from assay.domain import Credentials
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


@dataclass
class BuildContext:
    store: ConnectionSource | None = None
    prices: PriceTable | None = None
    base_dir: Path | None = None
    outbound: Policy | None = None  # the guard on URLs the spec names (the server's)
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
        for kind, made in (("function", _function), ("http", _http), ("prompt", _prompt)):
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


S = TypeVar("S", bound=_Spec)


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


class PromptSpec(_Spec):
    model: str = Field(min_length=1)
    provider: str = "openai"
    prompt: str | None = None
    messages: list[dict[str, Any]] | None = None
    system: str | None = None
    temperature: float | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    params: dict[str, Any] = Field(default_factory=dict)
    base_url: str | None = None
    connection: str | None = None
    timeout: float = Field(default=120.0, gt=0)
    price: dict[str, float] | None = None
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)


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
    )


def _prompt(options: dict[str, Any], context: BuildContext) -> Target:
    spec = _parse(PromptSpec, options)
    params = dict(spec.params)
    if spec.temperature is not None:
        params["temperature"] = spec.temperature
    if spec.max_tokens is not None:
        params["max_tokens"] = spec.max_tokens
    base_url, api_key, provider = spec.base_url, None, spec.provider
    if spec.connection:
        if context.store is None:
            raise InvalidInput(
                "target.connection: stored connections need a store", field="target.connection"
            )
        creds = context.store.connections.credentials(spec.connection)
        provider = creds.provider
        own = creds.base_url or default_url(provider)
        if base_url is not None and not same_url(base_url, own):
            raise InvalidInput(
                f"target.base_url: connection {spec.connection!r} sends its key only to its "
                f"own URL ({own}); leave base_url out, or save a connection for {base_url}",
                field="target.base_url",
            )
        base_url, api_key = own, creds.api_key
    return PromptTarget(
        model=spec.model,
        provider=provider,
        prompt=spec.prompt,
        messages=spec.messages,
        system=spec.system,
        params=params,
        base_url=base_url,
        api_key=api_key,
        connection=spec.connection,
        timeout=spec.timeout,
        price=spec.price,
        prices=context.prices,
        rpm=spec.rpm,
        tpm=spec.tpm,
        outbound=context.outbound,
    )
