"""Capturing OpenTelemetry spans during a run, when the process uses OpenTelemetry.

OpenTelemetry is optional (the ``otel`` extra): when the process has not imported
``opentelemetry.trace`` by the time a run starts, or the SDK is not installed, :func:`capture`
does nothing and loads nothing. Otherwise spans made inside target calls become steps of their
results' traces (see :mod:`assay.engine.otel_capture`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def capture() -> Iterator[None]:
    """Around a run: OpenTelemetry spans started inside its target calls are recorded."""
    if "opentelemetry.trace" not in sys.modules:
        yield
        return
    try:
        from assay.engine import otel_capture
    except ImportError:  # the API without the SDK: nothing records spans anyway
        yield
        return
    otel_capture.acquire()
    try:
        yield
    finally:
        otel_capture.release()
