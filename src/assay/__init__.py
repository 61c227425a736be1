"""Assay: evaluation platform for LLM applications and agents."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    __version__: str
    from assay.client import Assay, AsyncAssay, configure, current_observation, observe
    from assay.errors import AllItemsFailedWarning
    from assay.evaluation import EvaluationResult, evaluate, evaluate_async, rescore
    from assay.targets import TargetOutput
    from assay.targets.spans import Span, span

_LAZY = {
    "evaluate": "assay.evaluation",
    "evaluate_async": "assay.evaluation",
    "EvaluationResult": "assay.evaluation",
    "rescore": "assay.evaluation",
    "AllItemsFailedWarning": "assay.errors",
    "TargetOutput": "assay.targets",
    "span": "assay.targets.spans",
    "Span": "assay.targets.spans",
    "Assay": "assay.client",
    "AsyncAssay": "assay.client",
    "observe": "assay.client",
    "configure": "assay.client",
    "current_observation": "assay.client",
}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("assay")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0"


def __getattr__(name: str) -> Any:
    # Imported on first use, so `import assay` and `import assay.errors` stay light.
    if name == "__version__":
        globals()[name] = value = _version()
        return value
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'assay' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "AllItemsFailedWarning",
    "Assay",
    "AsyncAssay",
    "EvaluationResult",
    "Span",
    "TargetOutput",
    "__version__",
    "configure",
    "current_observation",
    "evaluate",
    "evaluate_async",
    "observe",
    "rescore",
    "span",
]
