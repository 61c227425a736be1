"""OTLP/HTTP trace export: decode a request, store its spans, answer as the protocol says.

A body is an ``ExportTraceServiceRequest`` in binary protobuf (``application/x-protobuf``) or
in OTLP/JSON (``application/json``: trace and span ids in hex, enums as numbers), optionally
gzip-compressed (``Content-Encoding: gzip``, inflated up to the body limit). Parsing is done by
``opentelemetry-proto``. The answer is an ``ExportTraceServiceResponse`` in the request's
encoding; spans that could not be stored are counted in its ``partial_success``. A body that
cannot be read at all is refused with 400 (415 for another content type, 413 when too large),
described by a ``google.rpc.Status`` message in the request's encoding.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from assay.domain.otel_values import OtelLimits
from assay.errors import AssayError, PayloadTooLarge
from assay.service.otel_spans import SpanMapper, SpanRows
from assay.store import Store
from assay.targets.pricing import PriceTable

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


class MalformedExport(AssayError):
    """The body is not an export request this server can read."""

    status = 400
    code = "bad_request"


class UnsupportedMediaType(AssayError):
    status = 415
    code = "unsupported_media_type"


class OtelMissing(AssayError):
    status = 501
    code = "not_implemented"


@dataclass(frozen=True)
class ExportResult:
    """What happened to an export request's spans."""

    accepted: int
    rejected: int
    message: str


def media_type(content_type: str | None) -> str:
    """``application/x-protobuf`` or ``application/json``; anything else is refused."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind in (PROTOBUF, "application/protobuf"):
        return PROTOBUF
    if kind == JSON:
        return JSON
    raise UnsupportedMediaType(
        f"content type {kind or '(none)'!r} is not OTLP/HTTP: send {PROTOBUF} or {JSON}",
        field="content-type",
    )


def _messages() -> Any:
    try:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    except ImportError:
        raise OtelMissing(
            "OTLP ingestion needs the OpenTelemetry messages: pip install 'assay[otel]'"
        ) from None
    return trace_service_pb2


def inflate(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body without its content encoding (``gzip`` or ``identity``), at most ``limit``."""
    kind = (encoding or "identity").strip().lower()
    if kind in ("identity", ""):
        return body
    if kind not in ("gzip", "x-gzip"):
        raise UnsupportedMediaType(
            f"content encoding {kind!r} is not supported: send gzip or none",
            field="content-encoding",
        )
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise MalformedExport(f"the gzip body cannot be decompressed: {exc}") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(
            f"the decompressed body is larger than the limit of {limit} bytes",
            limit=limit,
        )
    if not inflater.eof:
        raise MalformedExport("the gzip body is truncated")
    return data


def _hex_ids(node: Any) -> Any:
    """OTLP/JSON spells ids in hex where protobuf JSON expects base64: convert in place."""
    import base64

    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_FIELDS and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise MalformedExport(f"{key} {value[:40]!r} is not hexadecimal") from None
            else:
                _hex_ids(value)
    elif isinstance(node, list):
        for value in node:
            _hex_ids(value)
    return node


def decode(body: bytes, kind: str) -> Any:
    """An ``ExportTraceServiceRequest`` from its protobuf or OTLP/JSON encoding."""
    pb = _messages()
    request = pb.ExportTraceServiceRequest()
    if kind == PROTOBUF:
        from google.protobuf.message import DecodeError

        try:
            request.ParseFromString(body)
        except DecodeError as exc:
            raise MalformedExport(
                f"the body is not an OTLP protobuf export request: {exc}"
            ) from None
        return request
    import orjson
    from google.protobuf import json_format

    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedExport(f"the body is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise MalformedExport("an OTLP/JSON export request is a JSON object")
    try:
        json_format.ParseDict(_hex_ids(document), request, ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError) as exc:
        raise MalformedExport(f"the body is not an OTLP/JSON export request: {exc}") from None
    return request


@lru_cache(maxsize=4)
def prices(path: Path | None) -> PriceTable:
    return PriceTable.load(path)


def export(
    store: Store,
    body: bytes,
    *,
    content_type: str | None,
    content_encoding: str | None,
    limits: OtelLimits,
    price_table: Path | None = None,
) -> ExportResult:
    """Store the spans of one export request; refuse a body that cannot be read."""
    from assay.store.spans import write_spans

    kind = media_type(content_type)
    request = decode(inflate(body, content_encoding, limits.body_bytes), kind)
    rows: SpanRows = SpanMapper(prices(price_table), limits).map(request)
    written = write_spans(store.db, store.project_id, rows.traces, rows.observations)
    for span_id in written.refused[:5]:
        rows.reasons.append(f"span {span_id} is already stored under another trace")
    rejected = rows.rejected + len(written.refused)
    accepted = written.inserted + written.duplicates
    return ExportResult(accepted, rejected, "; ".join(rows.reasons[:5]) if rejected else "")


def response(result: ExportResult, kind: str) -> bytes:
    """The ``ExportTraceServiceResponse`` for ``result`` in the request's encoding."""
    pb = _messages()
    answer = pb.ExportTraceServiceResponse()
    if result.rejected:
        answer.partial_success.rejected_spans = result.rejected
        answer.partial_success.error_message = result.message
    return _encode(answer, kind)


def status(error: AssayError, kind: str) -> bytes:
    """A ``google.rpc.Status`` describing ``error`` (code 3, INVALID_ARGUMENT, for a 4xx)."""
    if kind == JSON:
        import orjson

        code = 3 if 400 <= error.status < 500 else 13
        return orjson.dumps({"code": code, "message": error.message, "details": []})
    try:
        from google.rpc import status_pb2
    except ImportError:  # the messages are missing: the reason, as text
        return error.message.encode()
    message = status_pb2.Status(code=3 if 400 <= error.status < 500 else 13, message=error.message)
    return bytes(message.SerializeToString())


def _encode(message: Any, kind: str) -> bytes:
    if kind == JSON:
        from google.protobuf import json_format

        text: str = json_format.MessageToJson(message, indent=None)
        return text.encode()
    return bytes(message.SerializeToString())
