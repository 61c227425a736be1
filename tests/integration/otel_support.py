"""The process-wide OpenTelemetry tracer provider, set and cleared around a test.

OpenTelemetry lets a process set its global provider once; tests that need a different one
(or none) reset that state before and after, so each test starts as a fresh process would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from assay.domain import DatasetCreate, ItemCreate
from assay.engine import RunOptions, plan
from assay.scoring import Scorer
from assay.store import Store

FAST = {"poll_interval": 0.05, "backoff_base": 0.01, "max_retries": 0}


def clear_global() -> None:
    trace._TRACER_PROVIDER = None
    trace._TRACER_PROVIDER_SET_ONCE._done = False


@contextmanager
def no_global_provider() -> Iterator[None]:
    clear_global()
    try:
        yield
    finally:
        clear_global()


@contextmanager
def user_provider() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """A global SDK provider of the user's, exporting to memory."""
    clear_global()
    exporter = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    try:
        yield provider, exporter
    finally:
        clear_global()
        provider.shutdown()


def run(
    store: Store,
    target: Any,
    n: int = 2,
    *,
    scorers: list[Scorer] | None = None,
    concurrency: int = 10,
) -> dict[str, Any]:
    """Run ``target`` over items ``{"q": "q0"}``…; the results by their ``q``."""
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items("qa", [ItemCreate(input={"q": f"q{i}"}) for i in range(n)])
    options = RunOptions(concurrency=concurrency, **FAST)  # type: ignore[arg-type]
    prepared = plan(
        store, dataset="qa", target=target, scorers=scorers or [], name="otel", options=options
    )
    run_id = asyncio.run(prepared.run()).id
    return {r.input["q"]: r for r in store.experiments.iter_results(run_id)}  # type: ignore[index]


def processors(provider: TracerProvider) -> tuple[Any, ...]:
    return tuple(provider._active_span_processor._span_processors)
