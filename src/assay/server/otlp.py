"""``POST /v1/traces``: the OTLP/HTTP trace endpoint (also ``/api/public/otel/v1/traces``).

OpenTelemetry exporters post here with ``OTEL_EXPORTER_OTLP_ENDPOINT=<server>`` (the
exporter appends ``/v1/traces``) and a project key in ``OTEL_EXPORTER_OTLP_HEADERS``
(``Authorization=Basic <base64 public:secret>`` or ``Authorization=Bearer <secret>``).
Authentication is the project-key dependency every API route uses. Everything else is
:mod:`assay.service.otlp`; see ``docs/opentelemetry.md`` for the attribute mapping.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool

from assay.domain.otel_values import OtelLimits
from assay.errors import AssayError
from assay.server.auth import ProjectStore
from assay.service import otlp

router = APIRouter(tags=["opentelemetry"])

_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "An OTLP ExportTraceServiceRequest, optionally gzip-compressed.",
        "content": {
            otlp.PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
            otlp.JSON: {"schema": {"type": "object"}},
        },
    },
    "responses": {
        "200": {
            "description": "An ExportTraceServiceResponse (partial_success counts rejected "
            "spans), in the request's encoding.",
            "content": {
                otlp.PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
                otlp.JSON: {"schema": {"type": "object"}},
            },
        },
        "400": {"description": "The body is not an OTLP export request (a google.rpc.Status)."},
        "415": {"description": "Neither application/x-protobuf nor application/json."},
    },
}


async def _export(store: ProjectStore, request: Request) -> Response:
    settings = request.app.state.assay.settings
    try:
        kind = otlp.media_type(request.headers.get("content-type"))
    except AssayError as exc:
        return Response(otlp.status(exc, otlp.JSON), exc.status, media_type=otlp.JSON)
    try:
        body = await request.body()
        result = await run_in_threadpool(
            otlp.export,
            store,
            body,
            content_type=kind,
            content_encoding=request.headers.get("content-encoding"),
            limits=OtelLimits(body_bytes=settings.max_request_bytes),
            price_table=settings.price_table,
        )
    except AssayError as exc:
        if exc.status >= 500 and exc.status != 501:
            raise
        return Response(otlp.status(exc, kind), exc.status, media_type=kind)
    return Response(otlp.response(result, kind), 200, media_type=kind)


router.add_api_route(
    "/v1/traces",
    _export,
    methods=["POST"],
    summary="Export traces (OTLP/HTTP)",
    response_class=Response,
    openapi_extra=_BODY,
)
router.add_api_route(
    "/api/public/otel/v1/traces",
    _export,
    methods=["POST"],
    summary="Export traces (OTLP/HTTP, Langfuse-compatible path)",
    response_class=Response,
    openapi_extra=_BODY,
    include_in_schema=False,
)
