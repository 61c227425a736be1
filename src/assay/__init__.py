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

__all__ = ["Assay", "AsyncAssay", "__version__"]


def __getattr__(name: str) -> Any:
    # The SDK client is imported on first use so ``import assay`` stays light.
    if name in ("Assay", "AsyncAssay"):
        from assay import client

        return getattr(client, name)
    raise AttributeError(f"module 'assay' has no attribute {name!r}")
