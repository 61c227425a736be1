"""Dataset pages: the list, and one dataset's items, runs and analytics tabs."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from assay.domain import ItemCreate
from assay.errors import InvalidInput, from_validation
from assay.server.auth import ProjectStore
from assay.server.web import charts
from assay.server.web.guard import FormGuard
from assay.server.web.templating import render

router = APIRouter()

RUNS_SHOWN = 50


@router.get("/datasets", response_class=HTMLResponse)
def datasets_page(
    request: Request,
    store: ProjectStore,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: str | None = None,
) -> HTMLResponse:
    page = store.datasets.list(search=q or None, limit=50, cursor=cursor)
    return render(
        request,
        "datasets.html",
        {"section": "datasets", "page": page, "q": q or ""},
        block="table",
    )


@router.get("/datasets/{name}", response_class=HTMLResponse)
def dataset_items_page(
    request: Request,
    store: ProjectStore,
    name: str,
    q: Annotated[str | None, Query(max_length=200)] = None,
    tag: Annotated[str | None, Query(max_length=200)] = None,
    cursor: str | None = None,
) -> HTMLResponse:
    dataset = store.datasets.get(name)
    items = store.datasets.list_items(
        dataset.id, search=q or None, tag=tag or None, limit=50, cursor=cursor
    )
    return render(
        request,
        "dataset_items.html",
        {
            "section": "datasets",
            "tab": "items",
            "dataset": dataset,
            "items": items,
            "q": q or "",
            "tag": tag or "",
            "form": {},
            "error": None,
            "added": None,
        },
        block="table",
    )


def _json_field(name: str, text: str, *, default: Any) -> Any:
    """A form field holding JSON; plain text that is not JSON is taken as a string."""
    text = text.strip()
    if not text:
        return default
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        if name in ("metadata",):
            raise InvalidInput(f"{name}: not valid JSON", field=name) from None
        return text


@router.post("/datasets/{name}/items", response_class=HTMLResponse, dependencies=[FormGuard])
def add_item(
    request: Request,
    store: ProjectStore,
    name: str,
    input: Annotated[str, Form()] = "",
    expected_output: Annotated[str, Form()] = "",
    metadata: Annotated[str, Form()] = "",
    tags: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Add one item from the form; a bad field re-renders the form with the reason."""
    dataset = store.datasets.get(name)
    form = {"input": input, "expected_output": expected_output, "metadata": metadata, "tags": tags}
    try:
        item = ItemCreate(
            input=_json_field("input", input, default=""),
            expected_output=_json_field("expected_output", expected_output, default=None),
            metadata=_json_field("metadata", metadata, default={}),
            tags=[t.strip() for t in tags.split(",") if t.strip()],
        )
        if item.input == "":
            raise InvalidInput("input: give the test case's input", field="input")
        created = store.datasets.add_item(dataset.id, item)
    except ValidationError as exc:
        error = from_validation(exc).message
    except InvalidInput as exc:
        error = exc.message
    else:
        return render(
            request,
            "dataset_item_form.html",
            {
                "dataset": store.datasets.get(dataset.id),
                "form": {},
                "error": None,
                "added": created,
            },
        )
    return render(
        request,
        "dataset_item_form.html",
        {"dataset": dataset, "form": form, "error": error, "added": None},
        status=422,
    )


@router.get("/datasets/{name}/runs", response_class=HTMLResponse)
def dataset_runs_page(request: Request, store: ProjectStore, name: str) -> HTMLResponse:
    """The runs table: one row per run with the columns of the dataset-runs view."""
    dataset = store.datasets.get(name)
    points = store.analytics.trend(dataset.id, limit=RUNS_SHOWN)[::-1]  # newest first
    runs = {e.id: e for e in store.experiments.list(dataset=dataset.id, limit=RUNS_SHOWN).items}
    rows = [{"point": p, "run": runs.get(p.experiment_id)} for p in points]
    scorers = sorted({name for p in points for name in p.scores})
    return render(
        request,
        "dataset_runs.html",
        {
            "section": "datasets",
            "tab": "runs",
            "dataset": dataset,
            "rows": rows,
            "scorers": scorers,
        },
        block="table",
    )


@router.get("/datasets/{name}/analytics", response_class=HTMLResponse)
def dataset_analytics_page(request: Request, store: ProjectStore, name: str) -> HTMLResponse:
    """Trends over the dataset's runs and its health: always failing, never failing, flaky."""
    dataset = store.datasets.get(name)
    points = store.analytics.trend(dataset.id, limit=100)
    labels = [p.name for p in points]
    health = store.analytics.dataset_health(dataset.id)
    scorers = sorted({name for p in points for name in p.scores})
    trend = {
        "pass_rate": charts.line(
            "Pass rate by run",
            list(zip(labels, [p.pass_rate for p in points], strict=True)),
            low=0.0,
            high=1.0,
            fmt="{:.0%}",
        ),
        "error_rate": charts.line(
            "Error rate by run",
            list(zip(labels, [p.error_rate for p in points], strict=True)),
            low=0.0,
            high=1.0,
            fmt="{:.0%}",
        ),
        "latency": charts.line(
            "p95 latency by run (s)",
            [
                (p.name, None if p.p95_latency_ms is None else p.p95_latency_ms / 1000)
                for p in points
            ],
            low=0.0,
            fmt="{:.2f}",
        ),
        "cost": charts.line(
            "Total cost by run (USD)",
            list(zip(labels, [p.total_cost for p in points], strict=True)),
            low=0.0,
            fmt="{:.4f}",
        ),
    }
    score_charts = [
        charts.line(
            f"{scorer}: mean score by run",
            [(p.name, p.scores[scorer].mean if scorer in p.scores else None) for p in points],
        )
        for scorer in scorers
    ]
    return render(
        request,
        "dataset_analytics.html",
        {
            "section": "datasets",
            "tab": "analytics",
            "dataset": dataset,
            "points": points,
            "trend": trend,
            "score_charts": score_charts,
            "health": health,
        },
    )
