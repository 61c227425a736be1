"""Run pages: every run with filters, and one run's summary and per-item results."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from assay.domain import (
    Experiment,
    ExperimentSort,
    ExperimentStatus,
    ExperimentSummary,
    Result,
    ResultStatus,
    ScoreCreate,
    ScoreSource,
)
from assay.errors import Conflict, InvalidInput, NotFound, from_validation
from assay.server.auth import AdminStore, ProjectStore
from assay.server.web import charts, run_details
from assay.server.web.figures import Figure, RunValue, sparkline
from assay.server.web.guard import FormGuard
from assay.server.web.query import choice, day, literal
from assay.server.web.result_links import results_link
from assay.server.web.run_progress import progress
from assay.server.web.templating import render
from assay.service.experiments import set_notes
from assay.store import Store

router = APIRouter()

#: Result tabs: "failed" were scored and failed; "errors" produced no output.
Outcome = Literal["all", "passed", "failed", "errors"]


def _day(value: date | None, *, end: bool = False) -> datetime | None:
    if value is None:
        return None
    start = datetime.combine(value, time(), tzinfo=UTC)
    return start + timedelta(days=1) if end else start


@router.get("/runs", response_class=HTMLResponse)
def runs_page(
    request: Request,
    store: ProjectStore,
    q: Annotated[str | None, Query(max_length=200)] = None,
    dataset: Annotated[str | None, Query(max_length=300)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    since: Annotated[str | None, Query(max_length=20)] = None,
    until: Annotated[str | None, Query(max_length=20)] = None,
    sort: Annotated[str | None, Query(max_length=20)] = None,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> HTMLResponse:
    """Every run, newest first unless a column header asks for another order (``sort``): search
    by name or run tag, filter by dataset, status, dates."""
    state = choice(ExperimentStatus, status, "status")
    first, last = day(since, "since"), day(until, "until")
    order = cast(ExperimentSort, literal(ExperimentSort, sort, "sort") or "-created_at")
    page = store.experiments.list(
        sort=order,
        dataset=dataset or None,
        status=state,
        search=q or None,
        created_after=_day(first),
        created_before=_day(last, end=True),
        limit=50,
        cursor=cursor,
    )
    overview = store.experiments.overview([e.id for e in page.items])
    names = {d.id: d.name for d in store.datasets.list(limit=1000).items}
    rows = [
        {
            "run": e,
            "target": e.target_label,
            "dataset": names.get(e.dataset_id or ""),
            "stats": overview.get(e.id, {}),
        }
        for e in page.items
    ]
    filters = {
        "q": q or "",
        "dataset": dataset or "",
        "status": state.value if state else "",
        "since": first.isoformat() if first else "",
        "until": last.isoformat() if last else "",
        "sort": "" if order == "-created_at" else order,
    }
    return render(
        request,
        "runs.html",
        {
            "section": "runs",
            "rows": rows,
            "next_cursor": page.next_cursor,
            "prev_cursor": page.prev_cursor,
            "filters": filters,
            "statuses": [s.value for s in ExperimentStatus],
            "datasets": sorted(names.values()),
            "order": order,
            "sparks": score_sparks(store, page.items),
        },
        block="table",
    )


def score_sparks(store: Store, runs: list[Experiment]) -> list[Figure]:
    """Each score's mean over the listed runs, oldest first: a small line per scorer."""
    points = sorted(store.analytics.points([e.id for e in runs]), key=lambda p: p.created_at)
    names = sorted({name for p in points for name in p.scores})
    return [
        sparkline(
            f"{name}: mean by run",
            [
                RunValue(
                    p.name,
                    p.created_at,
                    p.scores[name].mean if name in p.scores else None,
                    p.status,
                )
                for p in points
            ],
        )
        for name in names
    ]


def _distributions(store: Store, run: Experiment, summary: ExperimentSummary) -> list[Any]:
    """Latency and score histograms, drawn once a run has stopped."""
    if not run.status.stopped:
        return []
    latency = store.analytics.latency_distribution(run.id)
    none_completed = "no result completed, so there is no latency to draw."
    charts_ = [charts.histogram("Latency (ms)", latency.bins, fmt="{:.3g}", note=none_completed)]
    for s in summary.scores:
        dist = store.analytics.score_distribution(run.id, s.name)
        no_values = "no values (the scorer failed or gave categories only)."
        charts_.append(
            charts.histogram(f"{s.name} scores", dist.bins, fmt="{:.3g}", note=no_values)
        )
    return charts_


def _dataset_name(store: Store, run: Experiment) -> str | None:
    if run.dataset_id is None:
        return None
    try:
        return store.datasets.get(run.dataset_id).name
    except NotFound:  # the dataset was deleted; the run stays readable
        return None


def item_trials(store: Store, run: Experiment, shown: list[Result]) -> dict[str, tuple[int, int]]:
    """Per item shown, in a run of several trials: (passed, judged) over all its trials."""
    item_ids = sorted({r.item_id for r in shown if r.item_id is not None})
    if run.trials <= 1 or not item_ids:
        return {}
    out: dict[str, tuple[int, int]] = {}
    for r in store.experiments.results_for_items(run.id, item_ids):
        if r.item_id is None:
            continue
        passed, judged = out.get(r.item_id, (0, 0))
        out[r.item_id] = (passed + (r.passed is True), judged + (r.passed is not None))
    return out


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(
    request: Request,
    store: ProjectStore,
    run_id: str,
    outcome: Annotated[str | None, Query(max_length=20)] = None,
    sort: Annotated[str | None, Query(max_length=220)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> HTMLResponse:
    """Summary metrics, score statistics and distributions, then the results page by page,
    sorted by a column (``sort``) and searched (``q``: input, expected or output text).

    HTMX asks for one part: the results (``HX-Target: results``: tabs, sorting, search, pages,
    and the live refresh of the rows) or the summary (its live refresh)."""
    run = store.experiments.get(run_id)
    outcome = literal(Outcome, outcome, "outcome") or "all"
    passed = {"passed": True, "failed": False}.get(outcome)
    status = ResultStatus.failed if outcome == "errors" else None
    htmx = request.headers.get("hx-request") == "true"
    block = "results" if request.headers.get("hx-target") == "results" else "summary"
    context: dict[str, Any] = {"section": "runs", "target": run.target_label, "outcome": outcome}
    if htmx and block == "summary":  # its live refresh: the status is read before the figures
        summary = store.experiments.summary(run.id)
        context |= {"run": run, "summary": summary, "live": not run.status.stopped}
        context["distributions"] = _distributions(store, run, summary)
        return render(request, "run.html", context, block=block)
    # The run's status is read before its rows: once it reads stopped, the rows are final
    # and the live refresh stops.
    table = store.experiments.result_table(
        run.id, status=status, passed=passed, sort=sort or "position", search=q, cursor=cursor
    )
    context |= {
        "run": run,
        "table": table,
        "results": table.results,
        "cursor": cursor or "",
        "live": not run.status.stopped,
        "link": results_link(run.id, outcome, table.sort, table.search),
        "item_trials": item_trials(store, run, table.results),
    }
    if not htmx:
        summary = store.experiments.summary(run.id)
        dataset_name = _dataset_name(store, run)
        counts = store.experiments.counts([run.id])[run.id]
        context |= {
            "summary": summary,
            "distributions": _distributions(store, run, summary),
            "dataset_name": dataset_name,
            "details": run_details.details(store, run, dataset_name),
            "progress": progress(run, counts),
            "editing": False,
            "error": None,
            "scoring": store.dataset_runs.get(run.id).scoring if run.external else None,
        }
    return render(request, "run.html", context, block=block)


@router.get("/runs/{run_id}/scoring", response_class=HTMLResponse)
def run_scoring(request: Request, store: ProjectStore, run_id: str) -> HTMLResponse:
    """An uploaded run's "scoring N results…" line; once nothing waits, the page reloads."""
    scoring = store.dataset_runs.get(run_id).scoring
    headers = None if scoring.pending else {"HX-Refresh": "true"}
    context = {"run": {"id": run_id}, "scoring": scoring}
    return render(request, "run_scoring.html", context, headers=headers)


@router.get("/runs/{run_id}/progress", response_class=HTMLResponse)
def run_progress(request: Request, store: ProjectStore, run_id: str) -> HTMLResponse:
    """The progress bar of a run (done of total, throughput, ETA) from its counts by status.

    A live run's fragment polls again each second; the first one after the run stops has no
    trigger, which ends the polling, and replaces the run's actions (no *Cancel run* then)."""
    run = store.experiments.get(run_id)
    counts = store.experiments.counts([run.id])[run.id]  # read after the status: final if stopped
    live = not run.status.stopped
    return render(
        request,
        "run_progress.html",
        {"run": run, "progress": progress(run, counts), "live": live, "oob": not live},
    )


@router.get("/runs/{run_id}/status-cell", response_class=HTMLResponse)
def run_status_cell(request: Request, store: ProjectStore, run_id: str) -> HTMLResponse:
    """A runs table's status cell: it polls while the run is live and stops once it ended."""
    run = store.experiments.get(run_id)
    done = None
    if not run.status.stopped:
        done = progress(run, store.experiments.counts([run.id])[run.id])
    return render(
        request,
        "run_status_cell.html",
        {"run_id": run.id, "status": run.status.value, "error": run.error, "done": done},
    )


@router.get("/runs/{run_id}/notes", response_class=HTMLResponse)
def run_notes(
    request: Request, store: ProjectStore, run_id: str, edit: bool = False
) -> HTMLResponse:
    """The run's notes, or (``edit``) the form that edits them in place."""
    run = store.experiments.get(run_id)
    return render(request, "run_notes.html", {"run": run, "editing": edit, "error": None})


@router.post("/runs/{run_id}/notes", response_class=HTMLResponse, dependencies=[FormGuard])
def save_notes(
    request: Request,
    store: ProjectStore,
    run_id: str,
    notes: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Replace the run's notes (blank clears them); too long keeps the form with the text."""
    run = store.experiments.get(run_id)
    try:
        run = set_notes(store, run.id, notes if notes.strip() else None)
    except InvalidInput as exc:
        draft = run.model_copy(update={"notes": notes})
        context = {"run": draft, "editing": True, "error": exc.message}
        return render(request, "run_notes.html", context, status=422)
    return render(request, "run_notes.html", {"run": run, "editing": False, "error": None})


@router.post("/runs/{run_id}/cancel", dependencies=[FormGuard])
def cancel_run(store: ProjectStore, run_id: str) -> HTMLResponse:
    """Ask the run to stop: at once when no worker has it, else within a second."""
    run = store.experiments.request_cancel(run_id)
    return HTMLResponse("", headers={"HX-Redirect": f"/runs/{run.id}"})


@router.post("/runs/{run_id}/delete", dependencies=[FormGuard])
def delete_run(store: AdminStore, run_id: str) -> HTMLResponse:
    """Delete a run with its results and scores; a running one must be cancelled first."""
    run = store.experiments.get(run_id)
    if not run.status.finished and run.status is not ExperimentStatus.pending:
        raise Conflict(f"run {run.name!r} is {run.status.value}: cancel it first", field="status")
    store.experiments.delete(run.id)
    return HTMLResponse("", headers={"HX-Redirect": "/runs"})


def _feedback_value(text: str) -> float | bool | str:
    """A typed value: a number, pass/fail (true/false), or a category."""
    text = text.strip()
    if not text:
        raise InvalidInput("value: give a number, pass/fail or a category", field="value")
    lowered = text.lower()
    if lowered in ("true", "pass", "yes"):
        return True
    if lowered in ("false", "fail", "no"):
        return False
    try:
        return float(text)
    except ValueError:
        return text


@router.post(
    "/runs/{run_id}/results/{result_id}/scores",
    response_class=HTMLResponse,
    dependencies=[FormGuard],
)
def add_score(
    request: Request,
    store: ProjectStore,
    run_id: str,
    result_id: str,
    name: Annotated[str, Form()] = "",
    value: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """A person's score on one result (replacing their earlier score of that name)."""
    error = None
    try:
        typed = _feedback_value(value)
        store.scores.upsert(
            ScoreCreate(
                name=name.strip(),
                value=typed,
                passed=typed if isinstance(typed, bool) else None,
                reason=comment.strip() or None,
                source=ScoreSource.human,
            ),
            result_id=result_id,
        )
    except ValidationError as exc:
        error = from_validation(exc).message
    except InvalidInput as exc:
        error = exc.message
    return render(
        request,
        "result_scores.html",
        {
            "run_id": run_id,
            "result_id": result_id,
            "scores": store.scores.list(result_id=result_id),
            "error": error,
        },
        status=422 if error else 200,
    )
