"""One registry of scorer factories: built-ins, user code and ``assay.plugins`` entry points.

A plugin package declares an entry point in the ``assay.plugins`` group. Its value is either a
module (importing it registers scorers with :func:`register` / ``@scorer(register=True)``) or a
scorer factory (a callable returning a scorer), registered under the entry point's name.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any, TypeVar

from assay.errors import InvalidInput
from assay.scoring.base import Scorer

ScorerFactory = Callable[..., Scorer]
F = TypeVar("F", bound=Callable[..., Any])

PLUGIN_GROUP = "assay.plugins"

_REGISTRY: dict[str, Callable[..., Any]] = {}
_plugin_errors: dict[str, str] = {}
_plugins_loaded = False
_lock = threading.Lock()


def register(name: str, factory: F) -> F:
    """Make ``factory`` available by ``name`` (as in run configs and saved evaluators)."""
    if not name or not isinstance(name, str):
        raise InvalidInput("a scorer name must be a non-empty string", field="name")
    if not callable(factory):
        raise InvalidInput(f"scorer {name!r}: factory is not callable", field="factory")
    _REGISTRY[name] = factory
    return factory


def registered(name: str | None = None) -> Callable[[F], F]:
    """Decorator form of :func:`register`."""

    def wrap(factory: F) -> F:
        return register(name or factory.__name__, factory)

    return wrap


def load_plugins(*, reload: bool = False) -> dict[str, str]:
    """Load every ``assay.plugins`` entry point once; returns plugins that failed to load.

    A broken plugin does not break the others: its error is kept and shown when a scorer
    cannot be found.
    """
    global _plugins_loaded
    with _lock:
        if _plugins_loaded and not reload:
            return dict(_plugin_errors)
        _plugins_loaded = True
        for ep in entry_points(group=PLUGIN_GROUP):
            try:
                obj = ep.load()
            except Exception as exc:  # a plugin's import error must not break the others
                _plugin_errors[ep.name] = f"{ep.value}: {type(exc).__name__}: {exc}"
                continue
            _plugin_errors.pop(ep.name, None)
            if not isinstance(obj, ModuleType) and callable(obj):
                register(ep.name, obj)
        return dict(_plugin_errors)


def available() -> list[str]:
    """Names of every registered scorer, plugins included."""
    load_plugins()
    return sorted(_REGISTRY)


def factory(name: str) -> Callable[..., Any]:
    """The factory registered as ``name``."""
    load_plugins()
    found = _REGISTRY.get(name)
    if found is None:
        message = f"unknown scorer {name!r}; available: {', '.join(sorted(_REGISTRY))}"
        if _plugin_errors:
            broken = "; ".join(f"{k} ({v})" for k, v in sorted(_plugin_errors.items()))
            message += f"; plugins that failed to load: {broken}"
        raise InvalidInput(message, field="kind")
    return found


def describe(name: str) -> str:
    """The first line of a scorer's documentation."""
    doc = inspect.getdoc(factory(name)) or ""
    return doc.splitlines()[0] if doc else ""


def create(name: str, /, **params: Any) -> Scorer:
    """Build a registered scorer from its name and parameters."""
    make = factory(name)
    try:
        signature = inspect.signature(make)
    except (TypeError, ValueError):  # some callables have no introspectable signature
        signature = None
    if signature is not None:
        try:
            signature.bind(**params)
        except TypeError as exc:
            raise InvalidInput(f"scorer {name!r}: {exc}", field="params") from None
    built = make(**params)
    if not isinstance(built, Scorer):
        raise InvalidInput(
            f"scorer {name!r}: factory returned {type(built).__name__}, not a scorer "
            "(an object with a name and a score(sample) method)",
            field="kind",
        )
    return built
