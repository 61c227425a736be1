"""Assay: evaluation platform for LLM applications and agents."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("assay")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

if TYPE_CHECKING:
    from assay.client import Assay, AsyncAssay
    from assay.evaluate import EvaluationResult, evaluate, evaluate_async, rescore
    from assay.targets import TargetOutput

_LAZY = {
    "evaluate": "assay.evaluate",
    "evaluate_async": "assay.evaluate",
    "EvaluationResult": "assay.evaluate",
    "rescore": "assay.evaluate",
    "TargetOutput": "assay.targets",
    "Assay": "assay.client",
    "AsyncAssay": "assay.client",
}


def __getattr__(name: str) -> Any:
    # Imported on first use, so `import assay.errors` stays light.
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'assay' has no attribute {name!r}")
    import importlib

    loaded = importlib.import_module(module)
    # Importing ``assay.evaluate`` binds the submodule to ``assay.evaluate``: bind every lazy
    # name of that module now, so the function wins over the submodule of the same name.
    globals().update({n: getattr(loaded, n) for n, m in _LAZY.items() if m == module})
    return globals()[name]


__all__ = [
    "Assay",
    "AsyncAssay",
    "EvaluationResult",
    "TargetOutput",
    "__version__",
    "evaluate",
    "evaluate_async",
    "rescore",
]
