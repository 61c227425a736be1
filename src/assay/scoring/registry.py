"""One registry of scorer factories: built-ins, user code and ``assay.plugins`` entry points.

Nothing is registered by importing a module. The first lookup (:func:`available`,
:func:`factory`, :func:`create`, :func:`describe`) registers the built-in scorers, then takes
the scorer factories that :mod:`assay.plugins` loaded from the entry points (a plugin module
registers its own scorers with :func:`register` as it is imported). Names registered before
that first lookup, by user code or plugins, are kept over built-ins of the same name.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from assay import plugins
from assay.errors import InvalidInput
from assay.scoring.base import Scorer

ScorerFactory = Callable[..., Scorer]
F = TypeVar("F", bound=Callable[..., Any])

PLUGIN_GROUP = plugins.GROUP

_REGISTRY: dict[str, Callable[..., Any]] = {}
_builtins_registered = False
_plugins_generation = 0
_lock = threading.RLock()


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


def _builtin_factories() -> dict[str, Callable[..., Any]]:
    from assay.scoring import agent, embeddings, numeric, similarity, structured, text
    from assay.scoring.build import composite

    return {
        "exact_match": text.ExactMatch,
        "contains": text.Contains,
        "icontains": text.icontains,
        "contains_all": text.contains_all,
        "contains_any": text.contains_any,
        "regex": text.Regex,
        "starts_with": text.starts_with,
        "ends_with": text.ends_with,
        "length": text.Length,
        "is_json": structured.IsJson,
        "json_schema": structured.JsonSchema,
        "json_match": structured.JsonMatch,
        "levenshtein": similarity.Levenshtein,
        "similarity": similarity.SimilarityRatio,
        "token_f1": similarity.TokenF1,
        "bleu": similarity.Bleu,
        "rouge_l": similarity.RougeL,
        "numeric_close": numeric.NumericClose,
        "latency": numeric.latency,
        "cost": numeric.cost,
        "tokens": numeric.token_count,
        "tool_used": agent.ToolUsed,
        "tool_arguments": agent.ToolArguments,
        "tool_sequence": agent.ToolSequence,
        "semantic_similarity": embeddings.SemanticSimilarity,
        "composite": composite,
    }


def _ensure(*, reload: bool = False) -> dict[str, str]:
    """Register the built-ins once, then the plugins' factories; returns plugin errors."""
    global _builtins_registered, _plugins_generation
    with _lock:
        if not _builtins_registered:
            _builtins_registered = True
            for name, made in _builtin_factories().items():
                _REGISTRY.setdefault(name, made)
        loaded = plugins.load(reload=reload)
        if loaded.generation != _plugins_generation:
            _plugins_generation = loaded.generation
            for name, made in loaded.scorer_factories.items():
                if name in loaded.builtin:
                    _REGISTRY.setdefault(name, made)
                else:
                    _REGISTRY[name] = made
        return dict(loaded.errors)


def load_plugins(*, reload: bool = False) -> dict[str, str]:
    """Load every ``assay.plugins`` entry point once; returns plugins that failed to load.

    A broken plugin does not break the others: its error is kept and shown when a scorer
    cannot be found.
    """
    return _ensure(reload=reload)


def available() -> list[str]:
    """Names of every registered scorer, plugins included."""
    _ensure()
    return sorted(_REGISTRY)


def factory(name: str) -> Callable[..., Any]:
    """The factory registered as ``name``."""
    failed = _ensure()
    found = _REGISTRY.get(name)
    if found is None:
        message = f"unknown scorer {name!r}; available: {', '.join(sorted(_REGISTRY))}"
        if failed:
            broken = "; ".join(f"{k} ({v})" for k, v in sorted(failed.items()))
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
