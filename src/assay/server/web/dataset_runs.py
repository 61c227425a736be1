"""A dataset's runs tab (with the form that starts a run) and its analytics tab."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Annotated, Any, Literal, cast
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from assay.analysis import dataset_policy
from assay.domain import Experiment, ExperimentSort, TrendPoint
from assay.errors import Conflict, InvalidInput, NotFound, from_validation
from assay.server.auth import ProjectStore
from assay.server.limits import MAX_VERSION
from assay.server.web import figures
from assay.server.web.guard import FormGuard
from assay.server.web.query import literal
from assay.server.web.templating import render
from assay.service.experiments import ExperimentBody, launch
from assay.store import Store

router = APIRouter()

RUNS_SHOWN = 50


@router.get("/datasets/{name}/runs", response_class=HTMLResponse)
def dataset_runs_page(
    request: Request,
    store: ProjectStore,
    name: str,
    sort: Annotated[str | None, Query(max_length=20)] = None,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
    prompt: Annotated[str | None, Query(max_length=200)] = None,
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
) -> HTMLResponse:
    """The runs table: one row per run with the columns of the dataset-runs view, newest
    first unless a column header asks for another order, a page at a time.

    ``prompt`` (and ``version``) open the *Create dataset run* form with them chosen."""
    dataset = store.datasets.get(name)
    form = None
    if prompt is not None:
        attached = {e.id for e in store.evaluators.defaults(dataset.id)}
        form = {"target": "prompt", "concurrency": "5", "evaluator_ids": attached}
        form |= {"prompt_name": prompt, "prompt_version": str(version or "")}
    order = cast(ExperimentSort, literal(ExperimentSort, sort, "sort") or "-created_at")
    page = store.experiments.list(dataset=dataset.id, sort=order, limit=RUNS_SHOWN, cursor=cursor)
    points = store.analytics.points([e.id for e in page.items])
    runs = {e.id: e for e in page.items}
    links = linked_experiments(page.items, _gate_baseline(store, dataset.id))
    rows = [
        {"point": p, "run": runs.get(p.experiment_id), "links": links.get(p.experiment_id, [])}
        for p in points
    ]
    scorers = sorted({name for p in points for name in p.scores})
    address = f"/datasets/{quote(dataset.name, safe='')}/runs"

    def link(**changes: str | None) -> str:
        params = {"sort": order} | changes
        return address + "?" + urlencode({k: v for k, v in params.items() if v})

    return render(
        request,
        "dataset_runs.html",
        {
            "section": "datasets",
            "tab": "runs",
            "dataset": dataset,
            "rows": rows,
            "back": f"/datasets/{quote(dataset.name)}/runs",
            "scorers": scorers,
            "sort": order,
            "link": link,
            "prev_cursor": page.prev_cursor,
            "next_cursor": page.next_cursor,
            **_run_form(store, dataset.id, form),
        },
        block="table",
    )


def _gate_baseline(store: Store, dataset_id: str) -> str | None:
    """The run (id or name) the dataset's regression policy names as its baseline."""
    policy = dataset_policy(store, dataset_id)
    return policy.baseline if policy is not None else None


def linked_experiments(
    runs: Sequence[Experiment], gate_baseline: str | None = None
) -> dict[str, list[dict[str, str]]]:
    """The experiments that reference each run: the other side of a prompt-version
    comparison, runs whose metadata names it, and every other run when the dataset's gate
    takes it as the baseline. ``{run id: [{"id", "name", "why"}]}``."""
    links: dict[str, list[dict[str, str]]] = {r.id: [] for r in runs}
    pairs: dict[str, list[Experiment]] = {}
    for run in runs:
        stem = run.metadata.get("compare_prompt_versions")
        if isinstance(stem, str):
            pairs.setdefault(stem, []).append(run)
    for run in runs:
        stem = run.metadata.get("compare_prompt_versions")
        for other in pairs.get(stem, []) if isinstance(stem, str) else []:
            if other.id != run.id:
                links[run.id].append({"id": other.id, "name": other.name, "why": "compared with"})
        for other in runs:
            named = {v for v in other.metadata.values() if isinstance(v, str)}
            if other.id != run.id and run.id in named:
                links[run.id].append({"id": other.id, "name": other.name, "why": "references"})
        if gate_baseline is not None and gate_baseline in (run.id, run.name):
            for other in runs:
                if other.id != run.id and other.created_at > run.created_at:
                    links[run.id].append(
                        {"id": other.id, "name": other.name, "why": "gated against"}
                    )
    return links


def run_tags(store: Store) -> list[str]:
    """Run tags already used in the project, newest first (what the tag pickers offer)."""
    seen: dict[str, None] = {}
    for run in store.experiments.list(limit=500).items:
        if run.run_tag:
            seen.setdefault(run.run_tag, None)
    return list(seen)


def _run_form(
    store: Store, dataset_id: str, form: dict[str, Any] | None = None, error: str | None = None
) -> dict[str, Any]:
    """What the *Create dataset run* form offers: prompts, endpoints and saved evaluators."""
    attached = {e.id for e in store.evaluators.defaults(dataset_id)}
    return {
        "run_tags": run_tags(store),
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
    trials: Annotated[str, Form()] = "1",
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
        "trials": trials,
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
            trials=_whole("trials", trials, 20),
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


def _whole(field: str, text: str, high: int) -> int:
    value = _number(field, text or "1")
    if value != int(value) or not 1 <= value <= high:
        raise InvalidInput(f"{field}: a whole number from 1 to {high}", field=field)
    return int(value)


HEALTH_PAGE = 50
HealthView = Literal["all", "always_fail", "flaky", "always_pass"]


def _mean(scorer: str, point: TrendPoint) -> float | None:
    return point.scores[scorer].mean if scorer in point.scores else None


def _values(points: list[TrendPoint], value: Callable[[TrendPoint], float | None]) -> Any:
    return [figures.RunValue(p.name, p.created_at, value(p), p.status) for p in points]


def _concurrency(text: str) -> int:
    return _whole("concurrency", text, 10)


def _cost_quality(store: Store, dataset_id: str) -> figures.Figure:
    from assay.analysis.frontier import frontier  # its statistics load on first use

    return figures.cost_quality(frontier(store, dataset_id))


@router.get("/datasets/{name}/analytics", response_class=HTMLResponse)
def dataset_analytics_page(
    request: Request,
    store: ProjectStore,
    name: str,
    health: Annotated[str | None, Query(max_length=20)] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> HTMLResponse:
    """Trends over the dataset's runs (in run order, dated; failed and cancelled runs marked,
    not drawn as zeros) and its health: always failing, never failing, flaky, page by page."""
    dataset = store.datasets.get(name)
    view = cast(HealthView, literal(HealthView, health, "health") or "all")
    points = store.analytics.trend(dataset.id, limit=100)
    report = store.analytics.dataset_health(dataset.id)
    scorers = sorted({name for p in points for name in p.scores})
    series: dict[str, tuple[str, Callable[[TrendPoint], float | None], float | None, Any]] = {
        "pass_rate": ("Pass rate by run", lambda p: p.pass_rate, 1.0, figures.percent),
        "error_rate": ("Error rate by run", lambda p: p.error_rate, 1.0, figures.percent),
        "latency": ("p95 latency by run (ms)", lambda p: p.p95_latency_ms, None, figures.readable),
        "cost": ("Total cost by run (USD)", lambda p: p.total_cost, None, figures.usd),
    }
    trend = {
        key: figures.over_runs(title, _values(points, value), low=0.0, high=high, fmt=fmt)
        for key, (title, value, high, fmt) in series.items()
    }
    score_charts = []
    for scorer in scorers:
        means = _values(points, partial(_mean, scorer))
        known = [m.value for m in means if m.value is not None]
        # Scores usually lie in [0, 1]: show that whole range so small moves look small.
        low, high = min([0.0, *known]), max([1.0, *known])
        score_charts.append(
            figures.over_runs(f"{scorer}: mean score by run", means, low=low, high=high)
        )
    listed = [h for h in report.items if view == "all" or h.kind == view]
    shown = listed[offset : offset + HEALTH_PAGE]
    base = f"/datasets/{quote(dataset.name, safe='')}/analytics?health={view}&"
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
            "cost_quality": _cost_quality(store, dataset.id) if points else None,
            "health": report,
            "view": view,
            "health_items": shown,
            "health_total": len(listed),
            "health_url": base,
            "offset": offset,
            "limit": HEALTH_PAGE,
        },
        block="health",
    )
