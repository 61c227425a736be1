"""OTLP export requests built with the real protobuf messages."""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

PROTOBUF = {"content-type": "application/x-protobuf"}
T0 = 1_770_000_000_000_000_000  # 2026-02-02, in nanoseconds


def new_trace_id() -> bytes:
    return os.urandom(16)


def new_span_id() -> bytes:
    return os.urandom(8)


def value(v: Any) -> AnyValue:
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, list | tuple):
        return AnyValue(array_value=ArrayValue(values=[value(x) for x in v]))
    if isinstance(v, bytes):
        return AnyValue(bytes_value=v)
    return AnyValue(string_value=str(v))


def span(
    trace_id: bytes,
    span_id: bytes,
    name: str,
    *,
    parent: bytes = b"",
    attrs: dict[str, Any] | None = None,
    start: int = T0,
    duration_ms: int = 100,
    error: str | None = None,
    events: list[tuple[str, dict[str, Any]]] | None = None,
) -> Span:
    s = Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=start,
        end_time_unix_nano=start + duration_ms * 1_000_000,
        attributes=[KeyValue(key=k, value=value(v)) for k, v in (attrs or {}).items()],
    )
    if error is not None:
        s.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=error))
    for event_name, event_attrs in events or []:
        s.events.add(
            name=event_name,
            time_unix_nano=start,
            attributes=[KeyValue(key=k, value=value(v)) for k, v in event_attrs.items()],
        )
    return s


def export_request(*spans: Span, service: str = "support-bot") -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name", value=value(service))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "tests"
    scope_spans.scope.version = "1.0"
    scope_spans.spans.extend(spans)
    return request


def parse_response(content: bytes) -> ExportTraceServiceResponse:
    response = ExportTraceServiceResponse()
    response.ParseFromString(content)
    return response
