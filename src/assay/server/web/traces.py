"""Trace pages: the filtered list, and one trace as a waterfall of its observations."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from assay.domain import Observation, TraceDetail
from assay.errors import NotFound
from assay.server.auth import ProjectStore
from assay.server.web.templating import render
from assay.server.web.trace_filters import RANGE_LABELS, parse
from assay.server.web.trace_tree import chat_messages, is_error, timeline, totals, tree
from assay.store import Store

router = APIRouter()

__all__ = ["router", "timeline"]


def datasets_to_pick(store: Store) -> list[Any]:
    """The datasets the *Add to dataset* forms offer, by name."""
    return sorted(store.datasets.list(limit=500).items, key=lambda d: d.name.lower())


@router.get("/traces", response_class=HTMLResponse)
def traces_page(
    request: Request,
    store: ProjectStore,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    """Traces newest first; the filters are the query string, so a filtered list is a link."""
    filters = parse(request.query_params)
    page = store.traces.list(filters.query, limit=50, cursor=cursor or None)
    context = {
        "section": "traces",
        "tab": "traces",
        "page": page,
        "filters": filters,
        "f": filters.values,
        "ranges": RANGE_LABELS,
    }
    if request.headers.get("hx-request") != "true":
        context["datasets"] = datasets_to_pick(store)
    return render(request, "traces.html", context, block="table")


def _observation(trace: TraceDetail, observation_id: str | None) -> Observation | None:
    if observation_id is None:
        return None
    for o in trace.observations:
        if o.id == observation_id:
            return o
    raise NotFound(
        f"observation {observation_id!r} is not part of trace {trace.id!r}", field="observation"
    )


def _first_failure(trace: TraceDetail) -> Observation | None:
    return next((o for o in trace.observations if (o.level or "").upper() == "ERROR"), None)


def _detail_context(trace: TraceDetail, o: Observation) -> dict[str, Any]:
    span = next((s for s in timeline(trace) if s.observation.id == o.id), None)
    return {
        "trace": trace,
        "o": o,
        "span": span,
        "obs_in": chat_messages(o.input),
        "obs_out": chat_messages(o.output),
    }


@router.get("/traces/{trace_id}", response_class=HTMLResponse)
def trace_page(
    request: Request,
    store: ProjectStore,
    trace_id: str,
    observation: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    """The trace's totals, its input and output, and the waterfall; ``observation`` opens one
    observation's details beside it (by default the first that failed, so a failed call's
    error is on the page it links to)."""
    trace = store.traces.get(trace_id)
    selected = _observation(trace, observation) or _first_failure(trace)
    run = None
    if trace.session_id is not None:  # the traces a run records share the run's id as session
        try:
            run = store.experiments.get(trace.session_id)
        except NotFound:
            run = None
    linked = store.traces.results_of(trace.id, run.id if run else None)
    context: dict[str, Any] = {
        "section": "traces",
        "trace": trace,
        "nodes": tree(trace),
        "totals": totals(trace),
        "error": is_error(trace),
        "scores": store.traces.scores(trace.id),
        "run": run,
        "linked": linked,
        "messages_in": chat_messages(trace.input),
        "messages_out": chat_messages(trace.output),
        "span_names": sorted({o.name for o in trace.observations if o.name}),
        "datasets": datasets_to_pick(store),
        "selected": selected,
    }
    if selected is not None:
        context.update(_detail_context(trace, selected))
    return render(request, "trace.html", context)


@router.get("/traces/{trace_id}/observations/{observation_id}", response_class=HTMLResponse)
def observation_panel(
    request: Request, store: ProjectStore, trace_id: str, observation_id: str
) -> HTMLResponse:
    """One observation's details (the panel beside the waterfall)."""
    trace = store.traces.get(trace_id)
    selected = _observation(trace, observation_id)
    assert selected is not None
    return render(request, "trace_observation.html", _detail_context(trace, selected))
