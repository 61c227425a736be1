"""Tracing on the clients: ``client.trace(...)``, ``client.flush()``, ``client.shutdown()``.

A client's :class:`Tracer` is made on first use, with the client's server and keys; it owns
the exporter (:mod:`._exporter`) and decides which traces are kept (``sample_rate``, per
trace). Options come from ``client.configure_tracing(...)`` or the environment:
``ASSAY_TRACING=0`` turns exporting off, ``ASSAY_SAMPLE_RATE`` keeps that share of traces.
"""

from __future__ import annotations

import asyncio
import os
import zlib
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from assay.client import _inrun
from assay.client._exporter import Exporter, ExportStats, Record, TracingConfig
from assay.client._handles import TraceHandle, new_id
from assay.client._spool import SendBatch, default_directory

if TYPE_CHECKING:
    from assay.client._base import ClientConfig

_TRUE = ("1", "true", "yes", "on")


def config_from_env(**options: Any) -> TracingConfig:
    """``TracingConfig(**options)``, with ``ASSAY_TRACING`` and ``ASSAY_SAMPLE_RATE`` as the
    defaults of ``enabled`` and ``sample_rate``."""
    enabled = os.environ.get("ASSAY_TRACING", "1").strip().lower() in _TRUE
    rate = os.environ.get("ASSAY_SAMPLE_RATE")
    defaults: dict[str, Any] = {"enabled": enabled}
    if rate:
        defaults["sample_rate"] = float(rate)
    return TracingConfig(**{**defaults, **options})


class Tracer:
    """Creates traces for one client and exports them."""

    def __init__(self, send: SendBatch, config: TracingConfig, client_config: ClientConfig):
        self.config = config
        directory = config.journal_dir or default_directory(
            client_config.base_url, client_config.headers
        )
        self.exporter = Exporter(send, replace(config, journal_dir=directory), directory)
        self.put = self.exporter.put  # what handles call: one bound method, no lookups
        self._threshold = config.sample_rate * 2**32 if config.enabled else -1.0

    def sampled(self, trace_id: str) -> bool:
        """Whether a trace is kept: the same answer for the same id in every process."""
        if self._threshold >= 2**32:
            return True
        return zlib.crc32(trace_id.encode()) < self._threshold

    def trace(self, id: str | None = None, **fields: Any) -> TraceHandle:
        recorder = _inrun.recorder()
        if recorder is not None:  # inside an evaluate() target: a step of the result's trace
            return TraceHandle(None, id=id, sampled=False, recorder=recorder, **fields)
        trace_id = id or new_id()
        handle = TraceHandle(self, id=trace_id, sampled=self.sampled(trace_id), **fields)
        if handle._sampled:
            _unlinked.set(handle)
        return handle

    def flush(self) -> None:
        self.exporter.flush()

    def shutdown(self) -> None:
        self.exporter.shutdown()


# ---------------------------------------------------------------------- run items
_unlinked: ContextVar[TraceHandle | None] = ContextVar("assay_unlinked_trace", default=None)


def link_trace(client: Any, items: Sequence[Any]) -> Sequence[Any]:
    """Run items as sent: one item with no ``traceId`` of its own, uploaded by the client
    that started a trace in this context not linked yet, gets that trace's id (the loop
    "trace an item, upload its output" links each output to its trace). An explicit
    ``traceId`` — even None — is left alone."""
    if len(items) != 1:
        return items
    handle = _unlinked.get()
    item = items[0]
    if handle is None or not isinstance(item, Mapping):
        return items
    if handle._tracer is not client.__dict__.get("_tracing"):
        return items
    if "traceId" in item or "trace_id" in item:
        return items
    _unlinked.set(None)
    return [{**item, "traceId": handle.id}]


# ---------------------------------------------------------------------- client methods
class _Tracing:
    """``trace`` and the tracing options, shared by both clients."""

    config: ClientConfig
    _tracing: Tracer

    def _trace_sender(self) -> SendBatch:
        raise NotImplementedError

    def _tracer(self) -> Tracer:
        tracer = self.__dict__.get("_tracing")
        if tracer is None:
            tracer = self._tracing = Tracer(self._trace_sender(), config_from_env(), self.config)
        return tracer

    def configure_tracing(self, **options: Any) -> None:
        """Set :class:`TracingConfig` options (``sample_rate``, ``mask``, ``max_queue``,
        ``batch_size``, ``flush_interval``, ``journal_dir``, ``enabled``, …); what was
        recorded before is flushed with the earlier options."""
        old = self.__dict__.get("_tracing")
        if old is not None:
            old.shutdown()
        self._tracing = Tracer(self._trace_sender(), config_from_env(**options), self.config)

    def trace(
        self,
        *,
        name: str | None = None,
        input: Any = None,
        output: Any = None,
        metadata: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        user_id: str | None = None,
        session_id: str | None = None,
        id: str | None = None,
    ) -> TraceHandle:
        """Start a trace; add ``span``/``start_generation``/``event`` children to it and
        ``update(output=...)`` it. Never blocks: the exporter sends it in the background."""
        return self._tracer().trace(
            id,
            name=name,
            input=input,
            output=output,
            metadata=metadata,
            tags=tags,
            user_id=user_id,
            session_id=session_id,
        )

    def tracing_stats(self) -> ExportStats:
        """What the exporter did so far: sent, journaled, replayed, dropped, rejected."""
        return self._tracer().exporter.stats

    def _close_tracing(self) -> None:
        tracer = self.__dict__.get("_tracing")
        if tracer is not None:
            tracer.shutdown()
        mirror = self.__dict__.pop("_tracing_mirror", None)
        if mirror is not None:
            mirror.close()


class SyncTracing(_Tracing):
    def _run(self, call: Any) -> Any:
        raise NotImplementedError

    def _trace_sender(self) -> SendBatch:
        from assay.client._calls import trace_batch

        def send(traces: list[dict[str, Any]]) -> None:
            self._run(trace_batch(traces))

        return send

    def flush(self) -> None:
        """Send every trace recorded so far (or journal it, if the server is unreachable)
        and replay the journal; blocks until done, never raises."""
        self._tracer().flush()

    def shutdown(self) -> None:
        """Flush and stop the exporter (also done at interpreter exit)."""
        self._tracer().shutdown()


class AsyncTracing(_Tracing):
    def _trace_sender(self) -> SendBatch:
        # The exporter runs on its own thread: it sends with a sync client of the same
        # server, keys and retry settings.
        from assay.client._calls import trace_batch
        from assay.client._sync import Assay

        config = self.config
        mirror = Assay(
            config.base_url,
            timeout=config.timeout,
            max_retries=config.max_retries,
            retry_backoff=config.retry_backoff,
        )
        mirror.config = config
        previous = self.__dict__.get("_tracing_mirror")
        if previous is not None:  # its tracer was shut down before this one was made
            previous.close()
        self.__dict__["_tracing_mirror"] = mirror

        def send(traces: list[dict[str, Any]]) -> None:
            mirror._run(trace_batch(traces))

        return send

    async def flush(self) -> None:
        """Send every trace recorded so far (or journal it) and replay the journal."""
        await asyncio.to_thread(self._tracer().flush)

    async def shutdown(self) -> None:
        """Flush and stop the exporter (also done at interpreter exit)."""
        await asyncio.to_thread(self._tracer().shutdown)


__all__ = [
    "AsyncTracing",
    "ExportStats",
    "Record",
    "SyncTracing",
    "Tracer",
    "TracingConfig",
    "config_from_env",
    "link_trace",
]
