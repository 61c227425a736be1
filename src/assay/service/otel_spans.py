"""OTLP spans as Assay trace and observation rows.

Each OpenTelemetry trace id (32 hex digits) is an Assay trace; each span (16 hex digits) an
observation of it, its parent span its ``parent_id``. A root span (no parent) also names the
trace and gives it its input, output, times and metadata; a batch holding only children of a
trace creates it (or leaves it as it is) without touching those fields, so spans may arrive in
any order and in any number of requests.

Mapped attributes fill the observation's columns (:mod:`assay.domain.otel_semconv`). The rest
are kept, cleaned (:mod:`assay.domain.otel_values`), under ``metadata["attributes"]``; what
Assay itself records about the span (its kind, status, scope, events, dropped counts) lives
under ``metadata["otel"]``, so no attribute can overwrite it. The trace's metadata holds the
resource attributes under ``resource`` and the root span's kept attributes under
``attributes``.

A span without a valid trace or span id, or reusing a span id of another trace in the same
request, is rejected and counted; the other spans are kept (OTLP partial success).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from assay.domain import otel_semconv
from assay.domain.otel_values import OtelLimits, clean_text, key_values
from assay.targets.pricing import Price, PriceTable

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_NANOS = 253_402_300_799 * 1_000_000_000  # 9999-12-31T23:59:59Z
_SPAN_KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")
_STATUS = ("unset", "ok", "error")
_REASONS_KEPT = 5
_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)


@dataclass
class SpanRows:
    """A request's spans as rows: per trace the fields it sets, and new observations.

    Times are integer nanoseconds since the epoch (None when absent); the store writes them
    as its time columns hold them.
    """

    traces: dict[str, dict[str, Any]] = field(default_factory=dict)
    observations: list[dict[str, Any]] = field(default_factory=list)
    rejected: int = 0
    reasons: list[str] = field(default_factory=list)

    def reject(self, reason: str) -> None:
        self.rejected += 1
        if len(self.reasons) < _REASONS_KEPT:
            self.reasons.append(reason)


def _nanos(nanos: int) -> int | None:
    """A span time as stored (nanoseconds since the epoch), or None when out of range."""
    return nanos if 0 < nanos <= _MAX_NANOS else None


def _time(nanos: int) -> datetime | None:
    if nanos <= 0 or nanos > _MAX_NANOS:
        return None
    return _EPOCH + timedelta(microseconds=nanos // 1000)


def _events(span: Any, limits: OtelLimits) -> list[dict[str, Any]]:
    if not span.events:
        return []
    events = []
    for event in list(span.events)[: limits.events]:
        attrs, _ = key_values(event.attributes, limits)
        events.append(
            {
                "name": clean_text(event.name, 300),
                "time": (_time(event.time_unix_nano) or _EPOCH).isoformat(),
                "attributes": attrs,
            }
        )
    return events


def _error_message(status: Any, events: list[dict[str, Any]]) -> str | None:
    if status.message:
        return clean_text(status.message, 10_000)
    for event in events:
        if event["name"] == "exception":
            attrs = event["attributes"]
            kind, message = attrs.get("exception.type"), attrs.get("exception.message")
            text = ": ".join(str(p) for p in (kind, message) if p)
            if text:
                return text[:10_000]
    return None


class SpanMapper:
    """Maps export requests with one price table and one set of limits."""

    def __init__(self, prices: PriceTable, limits: OtelLimits) -> None:
        self.prices = prices
        self.limits = limits
        self._prices: dict[tuple[str | None, str], Price | None] = {}

    def map(self, request: Any) -> SpanRows:
        """Every span of an ``ExportTraceServiceRequest``, as rows."""
        rows = SpanRows()
        owners: dict[str, str] = {}
        seen = 0
        for resource_spans in request.resource_spans:
            resource, _ = key_values(resource_spans.resource.attributes, self.limits)
            for scope_spans in resource_spans.scope_spans:
                scope = {
                    "name": clean_text(scope_spans.scope.name, 300),
                    "version": clean_text(scope_spans.scope.version, 100),
                }
                for span in scope_spans.spans:
                    seen += 1
                    if seen > self.limits.spans:
                        rows.reject(f"more than {self.limits.spans} spans in one request")
                        continue
                    self._span(rows, owners, span, resource, scope)
        return rows

    def _span(
        self,
        rows: SpanRows,
        owners: dict[str, str],
        span: Any,
        resource: dict[str, Any],
        scope: dict[str, str],
    ) -> None:
        raw_trace, raw_span, raw_parent = span.trace_id, span.span_id, span.parent_span_id
        if len(raw_trace) != 16 or raw_trace == _ZERO_TRACE:
            rows.reject("a span has no valid trace_id (16 bytes, not all zero)")
            return
        if len(raw_span) != 8 or raw_span == _ZERO_SPAN:
            rows.reject("a span has no valid span_id (8 bytes, not all zero)")
            return
        if raw_parent and len(raw_parent) != 8:
            rows.reject("a span has an invalid parent_span_id (8 bytes)")
            return
        trace_id, span_id = raw_trace.hex(), raw_span.hex()
        owner = owners.get(span_id)
        if owner is not None:
            if owner != trace_id:
                rows.reject(f"span {span_id} appears under two traces")
            return  # the same span twice in one request: kept once
        owners[span_id] = trace_id
        parent_id = raw_parent.hex() if raw_parent and raw_parent != _ZERO_SPAN else None

        attrs, dropped = key_values(span.attributes, self.limits)
        events = _events(span, self.limits) if span.events else []
        found = otel_semconv.read(attrs, events)
        if found.cost is None and found.model and (found.tokens_in or found.tokens_out):
            found.cost = self._cost(found)
        code, kind = span.status.code, span.kind
        status = _STATUS[code] if 0 <= code < len(_STATUS) else "unset"
        start, end = _nanos(span.start_time_unix_nano), _nanos(span.end_time_unix_nano)
        name = span.name
        if len(name) > 300 or "\x00" in name:
            name = clean_text(name, 300)[:300]
        otel: dict[str, Any] = {
            "span_kind": _SPAN_KINDS[kind] if 0 <= kind < len(_SPAN_KINDS) else "unspecified",
            "status": status,
            "scope": scope,
        }
        if events:
            otel["events"] = events
        if found.provider:
            otel["provider"] = found.provider
        lost = dropped + span.dropped_attributes_count
        if lost:
            otel["dropped_attributes"] = lost
        error = status == "error"
        rows.observations.append(
            {
                "id": span_id,
                "trace_id": trace_id,
                "parent_id": parent_id,
                "type": found.type.value,
                "name": name or None,
                "start_time": start,
                "end_time": end,
                "input": found.input,
                "output": found.output,
                "model": found.model,
                "model_parameters": found.model_parameters,
                "tokens_in": found.tokens_in,
                "tokens_out": found.tokens_out,
                "cost": found.cost,
                "level": "ERROR" if error else "DEFAULT",
                "status_message": _error_message(span.status, events) if error else None,
                "metadata": {"attributes": attrs, "otel": otel},
            }
        )
        trace = rows.traces.get(trace_id)
        if trace is None:
            trace = rows.traces[trace_id] = {}
        if found.session_id:
            trace["session_id"] = found.session_id
        if found.user_id:
            trace["user_id"] = found.user_id
        if found.tags:
            trace["tags"] = found.tags
        if parent_id is None:
            trace.update(
                name=name or None,
                input=found.input,
                output=found.output,
                start_time=start,
                end_time=end,
                metadata={"resource": resource, "attributes": attrs},
            )

    def _cost(self, found: otel_semconv.Semantics) -> float | None:
        assert found.model is not None
        key = (found.provider, found.model)
        if key not in self._prices:
            providers = [found.provider] if found.provider in self.prices.table else []
            providers += [p for p in self.prices.table if p not in providers]
            prices = (self.prices.price(p, found.model) for p in providers)
            self._prices[key] = next((p for p in prices if p is not None), None)
        price = self._prices[key]
        return None if price is None else price.cost(found.tokens_in, found.tokens_out)
