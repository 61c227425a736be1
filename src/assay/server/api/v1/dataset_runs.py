"""``/api/v1/dataset-runs/``: runs whose outputs are uploaded (SDK ``create``/``create_items``,
CSV upload under a run tag), listed with the dataset's executed experiments."""

from __future__ import annotations

import functools
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from assay.domain import (
    DatasetRun,
    DatasetRunCreate,
    Page,
    ResultsPage,
    ResultStatus,
    RunItemsCreate,
    RunItemsResult,
    RunScoreReport,
    RunScoreRequest,
)
from assay.errors import InvalidInput
from assay.server.api.v1.experiments import (
    EXPORT_RESPONSES,
    ExportFormat,
    experiment_results,
    export_response,
)
from assay.server.auth import ProjectStore
from assay.service.scoring import score_run
from assay.service.uploads import UploadResult, parse_csv, upload_outputs

router = APIRouter(tags=["dataset runs"])


@router.post(
    "/dataset-runs/",
    status_code=201,
    responses={200: {"model": DatasetRun, "description": "The run of this id already existed."}},
)
def create_dataset_run(
    store: ProjectStore, body: DatasetRunCreate, response: Response
) -> DatasetRun:
    """A run of the named dataset (pinned at its current version) to upload outputs into.
    Creating a client-chosen ``id`` again with the same fields returns that run (200)."""
    run, created = store.dataset_runs.create_once(body)
    if not created:
        response.status_code = 200
    return run


@router.get("/dataset-runs/")
def list_dataset_runs(
    store: ProjectStore,
    dataset_name: str,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[DatasetRun]:
    return store.dataset_runs.list(dataset_name, limit=limit, offset=offset)


@router.get("/dataset-runs/{dataset_run_id}/")
def get_dataset_run(store: ProjectStore, dataset_run_id: str) -> DatasetRun:
    return store.dataset_runs.get(dataset_run_id)


@router.get("/dataset-runs/{dataset_run_id}/results/")
def dataset_run_results(
    store: ProjectStore,
    dataset_run_id: str,
    status: ResultStatus | None = None,
    passed: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
    include_summary: bool = True,
) -> ResultsPage:
    """The run's results as the experiment results listing gives them (one page in plan
    order; follow ``next_cursor``)."""
    run = store.dataset_runs.get(dataset_run_id)
    return experiment_results(store, run.id, status, passed, limit, cursor, include_summary)


@router.post("/dataset-runs/{dataset_run_id}/items/", status_code=201)
def create_dataset_run_items(
    store: ProjectStore, dataset_run_id: str, body: RunItemsCreate
) -> RunItemsResult:
    """Record outputs for dataset items; the same item again replaces its output.

    Completed outputs are queued for the dataset's attached evaluators (unless ``score`` is
    false), which a worker applies in the background: the run's ``scoring.pending`` counts
    what is left. Evaluators whose score an item carries are left out for that item."""
    return store.dataset_runs.add_items(
        dataset_run_id, body.items, dataset_name=body.dataset_name, score=body.score
    )


@router.post("/dataset-runs/{dataset_run_id}/score/")
async def score_dataset_run(
    store: ProjectStore, dataset_run_id: str, body: RunScoreRequest | None = None
) -> RunScoreReport:
    """Score the run's uploaded outputs on the server with saved evaluators (by default the
    dataset's attached ones); scores of the same names are replaced, so it is safe to repeat.

    Judges run here with the server's provider keys; the answer comes when scoring is done.
    """
    return await score_run(store, dataset_run_id, body or RunScoreRequest())


@router.get(
    "/dataset-runs/{dataset_run_id}/export/",
    response_class=StreamingResponse,
    responses=EXPORT_RESPONSES,
)
def export_dataset_run(
    store: ProjectStore, dataset_run_id: str, format: ExportFormat = "jsonl"
) -> StreamingResponse:
    """The run's results as the experiment export writes them (streamed)."""
    run = store.dataset_runs.get(dataset_run_id)
    return export_response(store, run.id, format)


@router.post(
    "/dataset-runs/upload/",
    openapi_extra={
        "requestBody": {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                },
            },
            "required": True,
        }
    },
)
async def upload_dataset_run(
    store: ProjectStore,
    request: Request,
    dataset_name: str,
    tag: Annotated[str, Query(min_length=1, max_length=200)],
    name: str | None = None,
    preview: bool = False,
    score: bool = True,
) -> UploadResult:
    """Upload a CSV of outputs into the dataset's run under ``tag`` (created when missing).

    With ``preview=true`` the parsed rows come back and nothing is written. The rows are
    scored in the background by the dataset's attached evaluators unless ``score=false``.
    """
    await run_in_threadpool(store.datasets.get, dataset_name)  # 404 before reading the file
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        try:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise InvalidInput("multipart upload needs a 'file' part", field="file")
            data = await upload.read()
        finally:
            await form.close()
    else:
        data = await request.body()
    items = parse_csv(data)
    if preview:
        return UploadResult(dataset_run=None, preview=items[:20], rows=len(items), written=None)
    return await run_in_threadpool(
        functools.partial(upload_outputs, store, dataset_name, tag, name, items, score=score)
    )
