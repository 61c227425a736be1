"""``/api/v1/traces/``: batch ingestion (idempotent by id), filtered lists, detail, sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import ValidationError

from assay.domain import (
    Page,
    SessionSummary,
    TraceBatch,
    TraceDetail,
    TraceIngestResult,
    TracePage,
    TraceQuery,
)
from assay.errors import from_validation
from assay.server.auth import ProjectStore

router = APIRouter(tags=["traces"])

Text = Annotated[str | None, Query(max_length=300)]


@router.post("/traces/")
def ingest_traces(store: ProjectStore, body: TraceBatch) -> TraceIngestResult:
    """Create or update traces with their observations (spans, generations, tool calls).
    Sending the same ids again updates them, so retries are safe."""
    return store.traces.ingest(body.traces)


@router.get("/traces/")
def list_traces(
    store: ProjectStore,
    search: Annotated[str | None, Query(max_length=200, description="Part of name or id.")] = None,
    name: Text = None,
    session_id: Text = None,
    user_id: Text = None,
    tag: Annotated[list[str] | None, Query(description="Tags the trace has, all of them.")] = None,
    model: Annotated[str | None, Query(description="A generation used this model.")] = None,
    errors: Annotated[bool, Query(description="Only traces with an error.")] = False,
    score_name: Text = None,
    score_min: float | None = None,
    score_max: float | None = None,
    since: Annotated[datetime | None, Query(description="Started at or after.")] = None,
    until: Annotated[datetime | None, Query(description="Started before.")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: Annotated[str | None, Query(description="A page's next_cursor or prev_cursor.")] = None,
) -> TracePage:
    """Traces, newest first, with their totals (observations, tokens, cost, duration, error)
    and scores; every filter given must hold."""
    try:
        where = TraceQuery(
            search=search,
            name=name,
            session_id=session_id,
            user_id=user_id,
            tags=tag or [],
            model=model,
            errors=errors,
            score_name=score_name,
            score_min=score_min,
            score_max=score_max,
            since=since,
            until=until,
        )
    except ValidationError as exc:
        raise from_validation(exc) from None
    return store.traces.list(where, limit=limit, cursor=cursor)


@router.get("/traces/{trace_id}/")
def get_trace(store: ProjectStore, trace_id: str) -> TraceDetail:
    """A trace with all its observations in start order."""
    return store.traces.get(trace_id)


@router.get("/sessions/")
def list_sessions(
    store: ProjectStore,
    search: Annotated[str | None, Query(max_length=200, description="Part of the id.")] = None,
    user_id: Text = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: str | None = None,
) -> Page[SessionSummary]:
    """Sessions (traces sharing a ``session_id``), the latest active first, with their trace
    count, first and last time, user, tokens and cost. A session's traces:
    ``GET /traces/?session_id=…``."""
    return store.traces.sessions(search=search, user_id=user_id, limit=limit, cursor=cursor)
