"""Trace pages: recorded executions, and one trace as a tree of timed spans."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from assay.domain import Observation, TraceDetail
from assay.errors import NotFound
from assay.server.auth import ProjectStore
from assay.server.web.templating import render

router = APIRouter()


@dataclass(frozen=True)
class TimelineSpan:
    """An observation placed on the trace's timeline (percent offsets of the whole trace)."""

    observation: Observation
    depth: int
    offset: float
    width: float
    duration_ms: float | None


def timeline(trace: TraceDetail) -> list[TimelineSpan]:
    """Observations depth-first under their parents, each with its place on the timeline."""
    children: dict[str | None, list[Observation]] = {}
    ids = {o.id for o in trace.observations}
    for o in trace.observations:
        parent = o.parent_id if o.parent_id in ids else None
        children.setdefault(parent, []).append(o)
    times = [t for o in trace.observations for t in (o.start_time, o.end_time) if t is not None]
    start = min(times) if times else None
    total = (max(times) - start).total_seconds() if times and start else 0.0
    out: list[TimelineSpan] = []

    def walk(parent: str | None, depth: int) -> None:
        for o in children.get(parent, []):
            offset = width = 0.0
            duration = None
            if o.start_time is not None and start is not None:
                if total > 0:
                    offset = (o.start_time - start).total_seconds() / total * 100
                if o.end_time is not None:
                    seconds = (o.end_time - o.start_time).total_seconds()
                    duration = seconds * 1000
                    width = seconds / total * 100 if total > 0 else 100.0
            out.append(
                TimelineSpan(o, depth, round(offset, 2), round(max(width, 0.5), 2), duration)
            )
            if depth < 50:  # a cycle of parent ids cannot recurse forever
                walk(o.id, depth + 1)

    walk(None, 0)
    return out


@router.get("/traces", response_class=HTMLResponse)
def traces_page(
    request: Request,
    store: ProjectStore,
    q: Annotated[str | None, Query(max_length=200)] = None,
    session: Annotated[str | None, Query(max_length=200)] = None,
    tag: Annotated[str | None, Query(max_length=200)] = None,
    cursor: str | None = None,
) -> HTMLResponse:
    page = store.traces.list(
        search=q or None, session_id=session or None, tag=tag or None, limit=50, cursor=cursor
    )
    filters = {"q": q or "", "session": session or "", "tag": tag or ""}
    return render(
        request,
        "traces.html",
        {"section": "traces", "page": page, "filters": filters},
        block="table",
    )


@router.get("/traces/{trace_id}", response_class=HTMLResponse)
def trace_page(request: Request, store: ProjectStore, trace_id: str) -> HTMLResponse:
    trace = store.traces.get(trace_id)
    run = None
    if trace.session_id is not None:  # the traces a run records share the run's id as session
        try:
            run = store.experiments.get(trace.session_id)
        except NotFound:
            run = None
    return render(
        request,
        "trace.html",
        {"section": "traces", "trace": trace, "spans": timeline(trace), "run": run},
    )
