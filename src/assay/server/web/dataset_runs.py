"""A dataset's runs tab (with the form that starts a run) and its analytics tab."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from assay.domain import TrendPoint
from assay.errors import Conflict, InvalidInput, NotFound, from_validation
from assay.server.auth import ProjectStore
from assay.server.limits import MAX_VERSION
from assay.server.web import charts
from assay.server.web.guard import FormGuard
from assay.server.web.templating import render
from assay.service.experiments import ExperimentBody, launch
from assay.service.uploads import parse_csv, upload_outputs
from assay.store import Store

router = APIRouter()

RUNS_SHOWN = 50


@router.get("/datasets/{name}/runs", response_class=HTMLResponse)
def dataset_runs_page(
    request: Request,
    store: ProjectStore,
    name: str,
    prompt: Annotated[str | None, Query(max_length=200)] = None,
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
) -> HTMLResponse:
    """The runs table: one row per run with the columns of the dataset-runs view.

    ``prompt`` (and ``version``) open the *Create dataset run* form with them chosen."""
    dataset = store.datasets.get(name)
    form = None
    if prompt is not None:
        attached = {e.id for e in store.evaluators.defaults(dataset.id)}
        form = {"target": "prompt", "concurrency": "5", "evaluator_ids": attached}
        form |= {"prompt_name": prompt, "prompt_version": str(version or "")}
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
            **_run_form(store, dataset.id, form),
        },
        block="table",
    )


def _run_form(
    store: Store, dataset_id: str, form: dict[str, Any] | None = None, error: str | None = None
) -> dict[str, Any]:
    """What the *Create dataset run* form offers: prompts, endpoints and saved evaluators."""
    attached = {e.id for e in store.evaluators.defaults(dataset_id)}
    return {
        "prompts": [p.name for p in store.prompts.list(limit=1000).items],
        "endpoints": store.endpoints.list(limit=1000).items,
        "evaluators": store.evaluators.list(),
        "form": form or {"target": "prompt", "concurrency": "5", "evaluator_ids": attached},
        "error": error,
    }


@router.post("/datasets/{name}/runs", response_class=HTMLResponse, dependencies=[FormGuard])
def create_run(
    request: Request,
    store: ProjectStore,
    name: str,
    run_name: Annotated[str, Form()] = "",
    target: Annotated[str, Form()] = "prompt",
    prompt_name: Annotated[str, Form()] = "",
    prompt_label: Annotated[str, Form()] = "",
    prompt_version: Annotated[str, Form()] = "",
    model: Annotated[str, Form()] = "",
    provider: Annotated[str, Form()] = "",
    base_url: Annotated[str, Form()] = "",
    temperature: Annotated[str, Form()] = "",
    endpoint_id: Annotated[str, Form()] = "",
    concurrency: Annotated[str, Form()] = "5",
    run_tag: Annotated[str, Form()] = "",
    evaluator_ids: Annotated[list[str] | None, Form()] = None,
) -> HTMLResponse:
    """Create a run over the dataset with a prompt or an endpoint and start it; the server's
    worker executes it and the run page follows its progress."""
    dataset = store.datasets.get(name)
    form: dict[str, Any] = {
        "run_name": run_name,
        "target": target,
        "prompt_name": prompt_name,
        "prompt_label": prompt_label,
        "prompt_version": prompt_version,
        "model": model,
        "provider": provider,
        "base_url": base_url,
        "temperature": temperature,
        "endpoint_id": endpoint_id,
        "concurrency": concurrency,
        "run_tag": run_tag,
        "evaluator_ids": set(evaluator_ids or []),
    }
    try:
        config: dict[str, Any]
        if target == "endpoint":
            config = {"type": "endpoint", "endpoint": endpoint_id.strip()}
        else:
            config = {"type": "prompt", "prompt": prompt_name.strip()}
            if prompt_label.strip() and prompt_version.strip():
                raise InvalidInput(
                    "prompt_version: give a label or a version, not both", field="prompt_version"
                )
            if prompt_label.strip():
                config["label"] = prompt_label.strip()
            elif prompt_version.strip():
                config["version"] = _version(prompt_version)
            else:
                config["version"] = "latest"
            optional = {"model": model, "provider": provider, "base_url": base_url}
            config |= {k: v.strip() for k, v in optional.items() if v.strip()}
            if temperature.strip():
                config["temperature"] = _number("temperature", temperature)
        body = ExperimentBody(
            name=run_name.strip() or f"{prompt_name or 'endpoint'} run",
            dataset_id=dataset.id,
            config=config,
            evaluator_ids=list(evaluator_ids or []),
            concurrency=_concurrency(concurrency),
            run_tag=run_tag.strip() or None,
        )
        experiment = launch(store, request.app.state.assay.settings, body)
    except ValidationError as exc:
        error = from_validation(exc).message
    except (InvalidInput, NotFound, Conflict) as exc:
        error = exc.message
    else:
        return HTMLResponse("", headers={"HX-Redirect": f"/runs/{experiment.id}"})
    return render(
        request,
        "dataset_run_form.html",
        {"dataset": dataset, **_run_form(store, dataset.id, form, error)},
        status=422,
    )


@router.post("/datasets/{name}/runs/upload", response_class=HTMLResponse, dependencies=[FormGuard])
async def upload_run(
    request: Request,
    store: ProjectStore,
    name: str,
    tag: Annotated[str, Form()] = "",
    run_name: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    """Outputs produced elsewhere, as CSV, into the dataset's run under ``tag`` (created when
    missing); the same item again replaces its output. All rows or none."""
    dataset = await run_in_threadpool(store.datasets.get, name)
    error = result = None
    try:
        if not tag.strip():
            raise InvalidInput("tag: name the run tag to upload under", field="tag")
        if file is None or not file.filename:
            raise InvalidInput("file: choose a CSV file", field="file")
        items = parse_csv(await file.read())
        result = await run_in_threadpool(
            upload_outputs, store, dataset.name, tag.strip(), run_name.strip() or None, items
        )
    except (InvalidInput, NotFound, Conflict) as exc:
        error = exc.message
    return render(
        request,
        "dataset_upload_form.html",
        {"dataset": dataset, "result": result, "error": error, "tag": tag, "run_name": run_name},
        status=422 if error else 200,
    )


def _number(field: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(f"{field}: {text!r} is not a number", field=field) from None


def _version(text: str) -> int:
    value = _number("prompt_version", text)
    if value != int(value) or not 1 <= value <= MAX_VERSION:
        raise InvalidInput("prompt_version: a version number (1, 2, …)", field="prompt_version")
    return int(value)


def _concurrency(text: str) -> int:
    value = _number("concurrency", text)
    if value != int(value) or not 1 <= value <= 10:
        raise InvalidInput("concurrency: a whole number from 1 to 10", field="concurrency")
    return int(value)


def _p95_seconds(point: TrendPoint) -> float | None:
    return None if point.p95_latency_ms is None else point.p95_latency_ms / 1000


@router.get("/datasets/{name}/analytics", response_class=HTMLResponse)
def dataset_analytics_page(request: Request, store: ProjectStore, name: str) -> HTMLResponse:
    """Trends over the dataset's runs and its health: always failing, never failing, flaky."""
    dataset = store.datasets.get(name)
    points = store.analytics.trend(dataset.id, limit=100)
    health = store.analytics.dataset_health(dataset.id)
    scorers = sorted({name for p in points for name in p.scores})
    series: dict[str, tuple[str, Callable[[TrendPoint], float | None], float | None, str]] = {
        "pass_rate": ("Pass rate by run", lambda p: p.pass_rate, 1.0, "{:.0%}"),
        "error_rate": ("Error rate by run", lambda p: p.error_rate, 1.0, "{:.0%}"),
        "latency": ("p95 latency by run (s)", _p95_seconds, None, "{:.3g}"),
        "cost": ("Total cost by run (USD)", lambda p: p.total_cost, None, "{:.3g}"),
    }
    trend = {
        key: charts.line(title, [(p.name, value(p)) for p in points], low=0.0, high=high, fmt=fmt)
        for key, (title, value, high, fmt) in series.items()
    }
    score_charts = []
    for scorer in scorers:
        means = [(p.name, p.scores[scorer].mean if scorer in p.scores else None) for p in points]
        known = [m for _, m in means if m is not None]
        # Scores usually lie in [0, 1]: show that whole range so small moves look small.
        low, high = min([0.0, *known]), max([1.0, *known])
        score_charts.append(
            charts.line(f"{scorer}: mean score by run", means, low=low, high=high, fmt="{:.3g}")
        )
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
