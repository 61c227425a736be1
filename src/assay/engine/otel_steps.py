"""An OpenTelemetry SDK span as a step of a result's trace.

The span's attributes are read with the conventions the OTLP endpoint uses
(:mod:`assay.domain.otel_semconv`: GenAI and OpenInference), so a model call instrumented
with OpenInference or OpenTelemetry's GenAI instrumentations becomes a ``generation`` with its
model, messages, parameters, tokens and cost (priced from the price table when the span gives
tokens but no cost), and a tool span a ``tool``. The rest of the attributes are kept, with keys
cleaned and values bounded (:mod:`assay.domain.otel_values`), under ``metadata["attributes"]``;
what Assay records about the span itself (kind, status, scope, ids, events) under
``metadata["otel"]``.

Spans are read duck-typed (``ReadableSpan``'s attributes), so this module imports no
OpenTelemetry package.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from assay.domain import otel_semconv
from assay.domain.otel_values import OtelLimits, clean_key, clean_text
from assay.targets.pricing import Price, PriceTable
from assay.targets.spans import Span

_LIMITS = OtelLimits()
_NAMES: dict[Any, str] = {}  # enum member (span kind, status code) -> lower-case name
_SCOPES: dict[Any, dict[str, str]] = {}
_PLAIN = otel_semconv.Semantics()  # what a span without attributes or events says
_TOOL_NAMES = ("gen_ai.tool.name", "tool.name")


def plain(value: Any, limits: OtelLimits = _LIMITS) -> Any:
    """An SDK attribute value (text, number, bool, or a sequence of them) as stored JSON."""
    if isinstance(value, str):
        return clean_text(value, limits.value_chars)
    if isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return [plain(v, limits) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value[: limits.value_chars]).decode()
    return clean_text(str(value), limits.value_chars)


def attributes(
    attrs: Mapping[str, Any] | None, limits: OtelLimits = _LIMITS
) -> tuple[dict[str, Any], int]:
    """Attributes with cleaned keys and bounded values, and how many were dropped."""
    out: dict[str, Any] = {}
    dropped = 0
    for raw, value in (attrs or {}).items():
        key = clean_key(raw)
        if not key or key in out or len(out) >= limits.attributes:
            dropped += 1
            continue
        out[key] = plain(value, limits)
    return out, dropped


def _name(member: Any) -> str:
    name = _NAMES.get(member)
    if name is None:
        name = _NAMES[member] = str(member.name).lower()
    return name


def _scope(scope: Any) -> dict[str, str]:
    found = _SCOPES.get(scope)
    if found is None:
        found = {"name": scope.name, "version": scope.version or ""}
        if len(_SCOPES) < 1000:
            _SCOPES[scope] = found
    return found


def _seconds(nanos: int | None) -> float | None:
    return None if not nanos else nanos / 1e9


def _events(span: Any, limits: OtelLimits) -> list[dict[str, Any]]:
    events = []
    for event in list(span.events or ())[: limits.events]:
        attrs, _ = attributes(event.attributes, limits)
        seconds = _seconds(event.timestamp) or 0.0
        events.append(
            {
                "name": clean_text(event.name, 300),
                "time": datetime.fromtimestamp(seconds, UTC).isoformat(),
                "attributes": attrs,
            }
        )
    return events


def _error(description: str | None, events: list[dict[str, Any]]) -> str | None:
    if description:
        return clean_text(description, 10_000)
    for event in events:
        if event["name"] == "exception":
            attrs = event["attributes"]
            text = ": ".join(
                str(p) for p in (attrs.get("exception.type"), attrs.get("exception.message")) if p
            )
            if text:
                return text[:10_000]
    return None


class StepMapper:
    """Fills steps from finished spans, with one price table and one set of limits."""

    def __init__(self, prices: PriceTable | None = None, limits: OtelLimits = _LIMITS) -> None:
        self._table = prices
        self.limits = limits
        self._prices: dict[tuple[str | None, str], Price | None] = {}

    def fill(self, record: Span, span: Any) -> None:
        """Copy what ``span`` (an SDK ``ReadableSpan``) says into ``record``."""
        limits = self.limits
        attrs, dropped = attributes(span.attributes, limits)
        events = _events(span, limits) if span.events else []
        tool_name = next((attrs[k] for k in _TOOL_NAMES if isinstance(attrs.get(k), str)), None)
        found = otel_semconv.read(attrs, events) if attrs or events else _PLAIN
        if found.cost is None and found.model and (found.tokens_in or found.tokens_out):
            found.cost = self._cost(found)
        status = _name(span.status.status_code)
        context = span.context
        scope = span.instrumentation_scope
        otel: dict[str, Any] = {
            "span_kind": _name(span.kind),
            "status": status,
            "trace_id": f"{context.trace_id:032x}",
            "span_id": f"{context.span_id:016x}",
        }
        if scope is not None:
            otel["scope"] = _scope(scope)
        if events:
            otel["events"] = events
        if found.provider:
            otel["provider"] = found.provider
        if dropped:
            otel["dropped_attributes"] = dropped
        metadata: dict[str, Any] = {"attributes": attrs, "otel": otel}
        if tool_name is not None:
            metadata["tool"] = tool_name
        for key in ("session_id", "user_id"):
            if getattr(found, key):
                metadata[key] = getattr(found, key)
        if found.tags:
            metadata["tags"] = found.tags
        record.name = clean_text(span.name or "", 300)[:300] or record.name
        record.type = found.type.value  # span, generation or tool
        record.input, record.output = found.input, found.output
        record.model, record.model_parameters = found.model, found.model_parameters
        record.tokens_in, record.tokens_out, record.cost = (
            found.tokens_in,
            found.tokens_out,
            found.cost,
        )
        record.start = _seconds(span.start_time) or record.start
        record.end = _seconds(span.end_time)
        if status == "error":
            record.level = "ERROR"
            record.status_message = _error(span.status.description, events)
        record.metadata = metadata

    def _cost(self, found: otel_semconv.Semantics) -> float | None:
        assert found.model is not None
        key = (found.provider, found.model)
        if key not in self._prices:
            if self._table is None:
                self._table = PriceTable.load()
            table = self._table.table
            providers = [found.provider] if found.provider in table else []
            providers += [p for p in table if p not in providers]
            prices = (self._table.price(p, found.model) for p in providers)
            self._prices[key] = next((p for p in prices if p is not None), None)
        price = self._prices[key]
        return None if price is None else price.cost(found.tokens_in, found.tokens_out)
