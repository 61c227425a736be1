"""The Python SDK for an Assay server: ``Assay`` (sync) and ``AsyncAssay`` (async).

    from assay.client import Assay
    client = Assay(base_url="http://127.0.0.1:8000", public_key="pk-…", secret_key="sk-…")
    client.datasets.create(name="trivia-set", description="Trivia QA dataset")

Arguments default to ``ASSAY_URL``, ``ASSAY_PUBLIC_KEY`` and ``ASSAY_SECRET_KEY``. Calls return
the records of ``assay.domain`` and raise the ``assay.errors`` classes the server reports.

Tracing: ``client.trace(...)`` and ``@observe()`` record traces that a background exporter
sends (see ``docs/tracing.md``).
"""

from assay.client._async import AsyncAssay
from assay.client._exporter import ExportStats, TracingConfig
from assay.client._handles import ObservationHandle, TraceHandle
from assay.client._observe import configure, current_observation, get_client, observe
from assay.client._sync import Assay

__all__ = [
    "Assay",
    "AsyncAssay",
    "ExportStats",
    "ObservationHandle",
    "TraceHandle",
    "TracingConfig",
    "configure",
    "current_observation",
    "get_client",
    "observe",
]
