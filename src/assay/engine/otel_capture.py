"""OpenTelemetry spans made inside a target call, captured as steps of that result's trace.

While a run is in progress, a :class:`CaptureProcessor` is registered on the global SDK
``TracerProvider``. When the process has none (the global provider is still OpenTelemetry's
proxy), an Assay-owned provider is installed as the global one for the duration of the run;
its tracers fall back to whatever the global provider is once the run ends, so a provider the
user sets later is used by them too. Both are removed when the last running run ends (runs in
one process share one registration).

A span belongs to a result when its parent span does (OpenTelemetry's parent chain: a span
started on another thread with the parent's context), else when it starts inside the target
call (the step list :mod:`assay.targets.spans` keeps in a context variable, which asyncio
tasks and ``copy_context`` threads inherit). Its step is appended when it starts, under its
parent span or under the innermost ``assay.span`` / ``@observe`` step, whichever is deeper,
and filled in from the finished span (:mod:`assay.engine.otel_steps`). Spans started outside
any target call are left alone. The processor never raises and never stops the provider's
other processors: the user's exporters receive every span as before.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace import Span as SdkSpan

from assay.engine.otel_steps import StepMapper
from assay.targets import spans as steps

log = logging.getLogger("assay.engine.otel")


class CaptureProcessor(SpanProcessor):
    """Appends a step for each span started inside a target call; fills it when it ends."""

    def __init__(self, mapper: StepMapper) -> None:
        self.mapper = mapper
        self.enabled = True
        # span id -> (the step list it was appended to, its index, the step)
        self._open: dict[int, tuple[list[steps.Span], int, steps.Span]] = {}

    def on_start(self, span: SdkSpan, parent_context: Context | None = None) -> None:
        if not self.enabled:
            return
        try:
            self._start(span)
        except Exception:  # never into the caller's code
            log.debug("an OpenTelemetry span could not be captured", exc_info=True)

    def _start(self, span: SdkSpan) -> None:
        here = steps.current()
        parent = span.parent
        found = self._open.get(parent.span_id) if parent is not None else None
        index: int | None
        if found is not None:
            spans, index = found[0], found[1]
            if here is not None and here[0] is spans and here[1] is not None:
                index = max(index, here[1])
        elif here is not None:
            spans, index = here
        else:
            return
        start = span.start_time
        record = steps.Span(span.name, parent=index)
        if start:
            record.start = start / 1e9
        self._open[span.context.span_id] = (spans, steps.append(spans, record), record)

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is None:
            return
        found = self._open.pop(context.span_id, None)
        if found is None:
            return
        try:
            self.mapper.fill(found[2], span)
        except Exception:
            log.debug("an OpenTelemetry span could not be mapped", exc_info=True)

    def parent_in(self, spans: list[steps.Span]) -> int | None:
        """The index of the current OpenTelemetry span among ``spans``, if it is one."""
        current = trace.get_current_span().get_span_context()
        found = self._open.get(current.span_id)
        return found[1] if found is not None and found[0] is spans else None

    def shutdown(self) -> None:
        self.enabled = False
        self._open.clear()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class _RunTracer(trace.Tracer):
    """A tracer of the Assay-owned provider: the SDK's while the run lasts, then the global
    provider's (so instrumentations set up during a run keep working after it)."""

    def __init__(self, provider: _RunProvider, args: tuple[Any, ...]) -> None:
        self._provider = provider
        self._args = args
        self._sdk: trace.Tracer | None = None
        self._after: trace.Tracer | None = None

    def _tracer(self) -> trace.Tracer:
        if not self._provider.retired:
            if self._sdk is None:
                self._sdk = TracerProvider.get_tracer(self._provider, *self._args)
            return self._sdk
        if self._after is None:
            self._after = trace.get_tracer_provider().get_tracer(*self._args)
        return self._after

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        return self._tracer().start_span(*args, **kwargs)

    def start_as_current_span(self, *args: Any, **kwargs: Any) -> Any:
        return self._tracer().start_as_current_span(*args, **kwargs)


class _RunProvider(TracerProvider):
    """The global provider while a run lasts, when the process had none."""

    retired = False

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Any = None,
    ) -> trace.Tracer:
        args = (instrumenting_module_name, instrumenting_library_version, schema_url, attributes)
        return _RunTracer(self, args)


class _Installed:
    def __init__(
        self, processor: CaptureProcessor, provider: Any, owned: _RunProvider | None
    ) -> None:
        self.processor = processor
        self.provider = provider
        self.owned = owned


_lock = threading.Lock()
_users = 0
_installed: _Installed | None = None


def installed() -> CaptureProcessor | None:
    """The processor registered for the runs in progress, if any."""
    return None if _installed is None else _installed.processor


def acquire() -> None:
    """A run starts: register the processor (once for all concurrent runs, and again on the
    global provider when the process replaced it while runs were going on)."""
    global _users, _installed
    with _lock:
        _users += 1
        moved = _installed is not None and _installed.provider is not trace.get_tracer_provider()
        if moved and _installed is not None:
            done, _installed = _installed, None
            _uninstall(done)
        if _users == 1 or moved:
            try:
                _installed = _install()
            except Exception:
                log.warning("OpenTelemetry spans will not be captured", exc_info=True)


def release() -> None:
    """A run ended: the last one removes what :func:`acquire` registered."""
    global _users, _installed
    with _lock:
        _users -= 1
        if _users == 0 and _installed is not None:
            done, _installed = _installed, None
            _uninstall(done)


def _install() -> _Installed | None:
    provider: Any = trace.get_tracer_provider()
    owned = None
    if isinstance(provider, trace.ProxyTracerProvider):
        owned = _RunProvider(shutdown_on_exit=False)
        trace._set_tracer_provider(owned, log=False)
        provider = trace.get_tracer_provider()
        if provider is not owned:  # set by another thread meanwhile
            owned = None
    if not hasattr(provider, "add_span_processor"):
        log.info("the global TracerProvider is not the SDK's: spans are not captured")
        return None
    processor = CaptureProcessor(StepMapper())
    provider.add_span_processor(processor)
    steps.otel_parent = processor.parent_in
    return _Installed(processor, provider, owned)


def _uninstall(done: _Installed) -> None:
    steps.otel_parent = None
    processor = done.processor
    processor.enabled = False
    multi = getattr(done.provider, "_active_span_processor", None)
    lock = getattr(multi, "_lock", None)
    if multi is not None and lock is not None:
        with lock:
            kept = getattr(multi, "_span_processors", ())
            if isinstance(kept, tuple):
                multi._span_processors = tuple(p for p in kept if p is not processor)
    processor.shutdown()
    owned = done.owned
    if owned is not None:
        owned.retired = True
        once = trace._TRACER_PROVIDER_SET_ONCE
        with once._lock:
            if trace._TRACER_PROVIDER is owned:
                trace._TRACER_PROVIDER = None
                once._done = False
