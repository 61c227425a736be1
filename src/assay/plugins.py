"""The ``assay.plugins`` entry points, each loaded once for every registry.

A plugin package declares entry points in the ``assay.plugins`` group. An entry point's value
is either

- a **module** (``my_package.plugin``): importing it is the plugin's own registration; it calls
  :func:`assay.scoring.register` (or ``@scorer(register=True)``) and
  :func:`assay.targets.register_target` for what it offers; or
- a **scorer factory** (``my_package.toxicity:factory``): a callable returning a scorer,
  registered under the entry point's name.

Assay's own LLM judge is declared the same way (:data:`BUILTIN`), in code rather than package
metadata so that it also works from a source tree; an installed plugin of the same name wins.

Nothing is loaded on import. The scorer registry and the target registry call :func:`load` on
their first lookup; the first call imports every entry point, later calls return the same
:class:`Loaded`. A plugin that fails to load does not stop the others: its error is kept and
shown when a name cannot be found.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from types import ModuleType
from typing import Any

GROUP = "assay.plugins"

BUILTIN: tuple[EntryPoint, ...] = (
    EntryPoint("llm_judge", "assay.engine.provider_judge:llm_judge", GROUP),
)
"""Entry points Assay ships itself: its judge needs the engine, which the scorers sit below."""


@dataclass(frozen=True)
class Loaded:
    """What loading the entry points gave: scorer factories by name, and failures by name."""

    scorer_factories: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    builtin: frozenset[str] = frozenset()
    """Names in ``scorer_factories`` that are Assay's own (no installed plugin replaced them)."""
    generation: int = 0


_lock = threading.RLock()
_loaded: Loaded | None = None
_loading = False
_generation = 0


def load(*, reload: bool = False) -> Loaded:
    """Import every entry point (built-in ones first) the first time, or again on ``reload``.

    A call made while the entry points are being imported (a plugin looking a name up as it
    registers) gets what has loaded so far instead of starting over.
    """
    global _loaded, _loading, _generation
    with _lock:
        if _loading:
            return _loaded or Loaded()
        if _loaded is not None and not reload:
            return _loaded
        _loading = True
        try:
            factories: dict[str, Callable[..., Any]] = {}
            errors: dict[str, str] = {}
            builtin: set[str] = set()
            for ep in (*BUILTIN, *entry_points(group=GROUP)):
                try:
                    obj = ep.load()
                except Exception as exc:  # one plugin's import error must not break the others
                    errors[ep.name] = f"{ep.value}: {type(exc).__name__}: {exc}"
                    continue
                errors.pop(ep.name, None)
                if not isinstance(obj, ModuleType) and callable(obj):
                    factories[ep.name] = obj
                    if ep in BUILTIN:
                        builtin.add(ep.name)
                    else:
                        builtin.discard(ep.name)
            _generation += 1
            _loaded = Loaded(factories, errors, frozenset(builtin), _generation)
        finally:
            _loading = False
        return _loaded


def errors() -> dict[str, str]:
    """Entry points that failed to load, with why (empty before the first :func:`load`)."""
    return dict(_loaded.errors) if _loaded is not None else {}
