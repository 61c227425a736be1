"""``/api/v1/experiments/``: create, start, cancel, results, export and notes of experiments.

``start/`` marks the experiment running; a worker (in ``assay serve`` or ``assay worker``)
takes it from the database and runs it, so ``cancel/`` works from any process.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from assay.domain import (
    Experiment,
    ExperimentDetail,
    ExperimentSort,
    ExperimentStarted,
    ExperimentStatus,
    ExperimentView,
    Page,
    Result,
    ResultsPage,
    ResultStatus,
)
from assay.errors import Conflict, InvalidInput
from assay.io import result_bytes, result_media_type
from assay.server.auth import AdminStore, ProjectStore
from assay.service import experiments as service
from assay.service.experiments import ExperimentBody, create_planned, start
from assay.store import Store

router = APIRouter(tags=["experiments"])
ExportFormat = Literal["csv", "json", "jsonl"]


class NotesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notes: str | None = Field(max_length=100_000)


def _view(store: ProjectStore, experiment: Experiment) -> ExperimentView:
    counts = store.experiments.counts([experiment.id])[experiment.id]
    errors = store.experiments.scorer_errors([experiment.id])[experiment.id]
    return ExperimentView(
        **experiment.model_dump(), counts=counts, errors=counts.get("failed", 0) + errors
    )


@router.get("/experiments/")
def list_experiments(
    store: ProjectStore,
    dataset_id: str | None = None,
    status: ExperimentStatus | None = None,
    sort: ExperimentSort = "-created_at",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: str | None = None,
) -> Page[ExperimentView]:
    """Experiments, newest first by default.

    ``sort`` is one of ``EXPERIMENT_SORT_FIELDS`` (ascending) or the same with a leading
    ``-`` (descending); a cursor continues the order it was issued for.
    """
    page = store.experiments.list(
        dataset=dataset_id, status=status, sort=sort, limit=limit, cursor=cursor
    )
    ids = [e.id for e in page.items]
    counts = store.experiments.counts(ids)
    scorer_errors = store.experiments.scorer_errors(ids)
    return Page[ExperimentView](
        items=[
            ExperimentView(
                **e.model_dump(),
                counts=counts[e.id],
                errors=counts[e.id].get("failed", 0) + scorer_errors[e.id],
            )
            for e in page.items
        ],
        next_cursor=page.next_cursor,
    )


@router.post("/experiments/", status_code=201)
def create_experiment(
    store: ProjectStore, request: Request, body: ExperimentBody
) -> ExperimentView:
    """Create a ``pending`` experiment with one planned result per item (and trial)."""
    return _view(store, create_planned(store, request.app.state.assay.settings, body))


@router.get("/experiments/{experiment_id}/")
def get_experiment(
    store: ProjectStore,
    experiment_id: str,
    runs_limit: Annotated[int, Query(ge=0, le=1000)] = 1000,
    runs_cursor: str | None = None,
) -> ExperimentDetail:
    """The experiment, its counts and summary, and its runs (one per item and trial).

    ``runs`` holds up to ``runs_limit`` runs in plan order, each as the results listing shows
    it; a larger experiment gives ``runs_next_cursor`` to pass back as ``runs_cursor``.
    ``runs_limit=0`` leaves the runs out.
    """
    experiment = store.experiments.get(experiment_id)
    runs: list[Result] = []
    next_cursor = None
    if runs_limit:
        try:
            page = store.experiments.results(
                experiment.id, limit=runs_limit, cursor=runs_cursor, summary=False
            )
        except InvalidInput as exc:
            message = exc.message.replace("cursor", "runs_cursor")
            raise InvalidInput(message, field="runs_cursor") from None
        runs, next_cursor = page.results, page.next_cursor
    return ExperimentDetail(
        **_view(store, experiment).model_dump(),
        summary=store.experiments.summary(experiment.id),
        runs=runs,
        runs_next_cursor=next_cursor,
    )


@router.delete("/experiments/{experiment_id}/", status_code=204)
def delete_experiment(store: AdminStore, experiment_id: str) -> Response:
    """Delete an experiment with its results; a running one must be cancelled first.
    Needs an admin key."""
    experiment = store.experiments.get(experiment_id)
    if experiment.status in (ExperimentStatus.running, ExperimentStatus.scoring):
        raise Conflict(
            f"experiment {experiment.id} is {experiment.status.value}: cancel it first",
            field="status",
        )
    store.experiments.delete(experiment.id)
    return Response(status_code=204)


@router.post("/experiments/{experiment_id}/start/")
def start_experiment(
    store: ProjectStore, request: Request, experiment_id: str
) -> ExperimentStarted:
    """Hand a pending experiment to the workers; ``runs_created`` counts its planned results."""
    experiment = store.experiments.get(experiment_id)
    started = start(store, request.app.state.assay.settings, experiment)
    return ExperimentStarted(
        id=experiment.id,
        name=experiment.name,
        status=ExperimentStatus.running,
        runs_created=started.runs,
        started_at=started.started_at,
    )


@router.post("/experiments/{experiment_id}/cancel/")
def cancel_experiment(store: ProjectStore, experiment_id: str) -> ExperimentView:
    """Cancel: at once when no worker runs it, else the worker stops within a second."""
    return _view(store, store.experiments.request_cancel(experiment_id))


@router.get("/experiments/{experiment_id}/results/")
def experiment_results(
    store: ProjectStore,
    experiment_id: str,
    status: ResultStatus | None = None,
    passed: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
    include_summary: bool = True,
) -> ResultsPage:
    """The summary and one page of results in plan order; follow ``next_cursor``.

    The summary scans every result: pass ``include_summary=false`` when paging a large run.
    ``total`` counts the results matching the filters on the first page (no ``cursor``).
    """
    return store.experiments.results(
        experiment_id,
        status=status,
        passed=passed,
        limit=limit,
        cursor=cursor,
        summary=include_summary,
    )


@router.put("/experiments/{experiment_id}/notes/")
def set_notes(store: ProjectStore, experiment_id: str, body: NotesBody) -> ExperimentView:
    return _view(store, service.set_notes(store, experiment_id, body.notes))


EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}, "application/json": {}, "application/x-ndjson": {}}}
}


def export_response(store: Store, run_id: str, format: ExportFormat) -> StreamingResponse:
    """A run's results streamed as an attachment, through :func:`assay.io.result_bytes`."""
    chunks = result_bytes(store, run_id, format=format)  # a missing run fails here, not mid-body
    filename = f"experiment-{run_id}.{format}"
    return StreamingResponse(
        chunks,
        media_type=result_media_type(format),
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/experiments/{experiment_id}/export/",
    response_class=StreamingResponse,
    responses=EXPORT_RESPONSES,
)
def export_experiment(
    store: ProjectStore, experiment_id: str, format: ExportFormat = "jsonl"
) -> StreamingResponse:
    """Every result with input, expected and actual output, metrics and scores (streamed)."""
    experiment = store.experiments.get(experiment_id)
    return export_response(store, experiment.id, format)
