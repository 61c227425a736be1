"""``/api/v1/traces/``: batch ingestion (idempotent by id), list and detail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from assay.domain import Page, Trace, TraceBatch, TraceDetail, TraceIngestResult
from assay.server.auth import ProjectStore

router = APIRouter(tags=["traces"])


@router.post("/traces/")
def ingest_traces(store: ProjectStore, body: TraceBatch) -> TraceIngestResult:
    """Create or update traces with their observations (spans, generations, tool calls).
    Sending the same ids again updates them, so retries are safe."""
    return store.traces.ingest(body.traces)


@router.get("/traces/")
def list_traces(
    store: ProjectStore,
    search: str | None = None,
    session_id: str | None = None,
    user_id: str | None = None,
    tag: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: str | None = None,
) -> Page[Trace]:
    """Traces, newest first."""
    return store.traces.list(
        search=search, session_id=session_id, user_id=user_id, tag=tag, limit=limit, cursor=cursor
    )


@router.get("/traces/{trace_id}/")
def get_trace(store: ProjectStore, trace_id: str) -> TraceDetail:
    """A trace with all its observations in start order."""
    return store.traces.get(trace_id)
