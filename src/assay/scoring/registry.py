"""One registry of scorer factories: built-ins, user code and ``assay.plugins`` entry points."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from assay.errors import InvalidInput
from assay.scoring.base import Scorer

ScorerFactory = Callable[..., Scorer]

_REGISTRY: dict[str, ScorerFactory] = {}
_plugins_loaded = False


def register(name: str, factory: ScorerFactory) -> ScorerFactory:
    """Make ``factory`` available by ``name`` (as in run configs and saved evaluators)."""
    _REGISTRY[name] = factory
    return factory


def registered(name: str | None = None) -> Callable[[ScorerFactory], ScorerFactory]:
    """Decorator form of :func:`register`."""

    def wrap(factory: ScorerFactory) -> ScorerFactory:
        return register(name or factory.__name__, factory)

    return wrap


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for ep in entry_points(group="assay.plugins"):
        ep.load()  # importing a plugin module registers its scorers and targets


def available() -> list[str]:
    _load_plugins()
    return sorted(_REGISTRY)


def create(name: str, **params: Any) -> Scorer:
    """Build a registered scorer from its name and parameters."""
    _load_plugins()
    factory = _REGISTRY.get(name)
    if factory is None:
        raise InvalidInput(
            f"unknown scorer {name!r}; available: {', '.join(available())}", field="scorer"
        )
    try:
        return factory(**params)
    except TypeError as exc:
        raise InvalidInput(f"scorer {name!r}: {exc}", field="scorer") from None
