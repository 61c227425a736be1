"""*Add to dataset* from the traces list (the ticked traces, or all the filter matches) and
from a trace page (the whole trace, or one of its spans as the source of a field)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from assay.domain.trace_items import FromTracesRequest, TraceField, TraceMapping
from assay.errors import AssayError, InvalidInput, from_validation
from assay.server.auth import ProjectStore
from assay.server.web.guard import FormGuard
from assay.server.web.templating import render
from assay.server.web.trace_filters import parse
from assay.service.trace_datasets import add_from_traces
from assay.store import Store

router = APIRouter()

MAX_TRACES = 10_000  # what one request to the service may add
FIELDS = ("input", "output", "metadata")


def _field(form: Any, prefix: str, *, optional: bool) -> TraceField | None:
    """``<prefix>_field`` (input, output, metadata; empty: none) of ``<prefix>_span``
    (empty: the trace itself)."""
    name = str(form.get(f"{prefix}_field") or "")
    if not name:
        if optional:
            return None
        raise InvalidInput(f"{prefix}: choose where it comes from", field=f"{prefix}_field")
    if name not in FIELDS:
        raise InvalidInput(
            f"{prefix}_field: {name!r} is not one of {', '.join(FIELDS)}", field=f"{prefix}_field"
        )
    span = str(form.get(f"{prefix}_span") or "").strip() or None
    return TraceField(span=span, field=name)  # type: ignore[arg-type]


def _chosen(store: Store, form: Any) -> list[str]:
    scope = str(form.get("scope") or "selected")
    if scope == "filter":
        where = parse(form).query
        ids = store.traces.ids(where, limit=MAX_TRACES)
        if not ids:
            raise InvalidInput("no trace matches the filter", field="scope")
        return ids
    if scope != "selected":
        raise InvalidInput(f"scope: {scope!r} is not one of selected, filter", field="scope")
    ids = list(dict.fromkeys(str(i) for i in form.getlist("trace_ids") if str(i).strip()))
    if not ids:
        raise InvalidInput(
            "select at least one trace (or add all the traces the filter matches)",
            field="trace_ids",
        )
    if len(ids) > MAX_TRACES:
        raise InvalidInput(f"select at most {MAX_TRACES} traces", field="trace_ids")
    return ids


def _check_spans(store: Store, ids: list[str], mapping: TraceMapping) -> None:
    """A span named in the mapping must exist in at least one of the chosen traces."""
    wanted = {
        (prefix, f.span)
        for prefix, f in (
            ("input", mapping.input),
            ("expected", mapping.expected_output),
            ("metadata", mapping.metadata),
        )
        if f is not None and f.span is not None
    }
    if not wanted:
        return
    names = store.traces.span_names(ids)
    for prefix, span in sorted(wanted):
        if span not in names:
            count = "the trace has no" if len(ids) == 1 else f"none of the {len(ids)} traces has an"
            raise InvalidInput(
                f"{prefix}_span: {count} observation named {span!r}", field=f"{prefix}_span"
            )


@router.post("/traces/add-to-dataset", response_class=HTMLResponse, dependencies=[FormGuard])
async def add_to_dataset(request: Request, store: ProjectStore) -> HTMLResponse:
    """Add the chosen traces to a dataset as one new version; the outcome or the error shows
    in place of the form's result line."""
    form = await request.form()
    try:
        dataset = str(form.get("dataset") or "").strip()
        if not dataset:
            raise InvalidInput("dataset: choose a dataset", field="dataset")
        target = store.datasets.get(dataset)
        source = _field(form, "input", optional=False)
        if source is None:  # pragma: no cover - a required field raises instead
            raise InvalidInput("input: choose where it comes from", field="input_field")
        mapping = TraceMapping(
            input=source,
            expected_output=_field(form, "expected", optional=True),
            metadata=_field(form, "metadata", optional=True),
        )
        ids = _chosen(store, form)
        _check_spans(store, ids, mapping)
        message = str(form.get("message") or "").strip() or None
        request_body = FromTracesRequest(
            trace_ids=ids, mapping=mapping, limit=len(ids), message=message
        )
        result = add_from_traces(store, target.id, request_body)
    except ValidationError as exc:
        return _error(request, from_validation(exc).message)
    except AssayError as exc:
        return _error(request, exc.message)
    link = f"/datasets/{quote(target.name)}/versions"
    if result.added:
        link += f"?diff={result.version}"
    return render(
        request,
        "trace_add_result.html",
        {"result": result, "dataset": target, "link": link, "error": None},
    )


def _error(request: Request, message: str) -> HTMLResponse:
    return render(request, "trace_add_result.html", {"error": message}, status=422)
