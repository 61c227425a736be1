"""``/api/v1/dataset-runs/``: runs whose outputs are uploaded (SDK ``create``/``create_items``,
CSV upload under a run tag), listed with the dataset's executed experiments."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool

from assay.domain import (
    DatasetRun,
    DatasetRunCreate,
    Page,
    RunItemCreate,
    RunItemsCreate,
    RunItemsResult,
)
from assay.errors import InvalidInput, from_validation
from assay.server.api.v1.experiments import EXPORT_RESPONSES, export_experiment
from assay.server.auth import ProjectStore

router = APIRouter(tags=["dataset runs"])

_CSV_COLUMNS = {
    "input": "input",
    "expected_output": "expected_output",
    "expectedoutput": "expected_output",
    "output": "output",
    "dataset_item_id": "dataset_item_id",
    "datasetitemid": "dataset_item_id",
    "trace_id": "trace_id",
    "traceid": "trace_id",
    "observation_id": "observation_id",
    "observationid": "observation_id",
    "error": "error",
    "latency_ms": "latency_ms",
    "cost": "cost",
    "tokens_in": "tokens_in",
    "tokens_out": "tokens_out",
}
_JSON_CELLS = {"input", "expected_output", "output"}


class UploadResult(BaseModel):
    dataset_run: DatasetRun | None
    preview: list[RunItemCreate]
    rows: int
    written: RunItemsResult | None


@router.post("/dataset-runs/", status_code=201)
def create_dataset_run(store: ProjectStore, body: DatasetRunCreate) -> DatasetRun:
    """A run of the named dataset (pinned at its current version) to upload outputs into."""
    return store.dataset_runs.create(body)


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


@router.post("/dataset-runs/{dataset_run_id}/items/", status_code=201)
def create_dataset_run_items(
    store: ProjectStore, dataset_run_id: str, body: RunItemsCreate
) -> RunItemsResult:
    """Record outputs for dataset items; the same item again replaces its output."""
    return store.dataset_runs.add_items(dataset_run_id, body.items, dataset_name=body.dataset_name)


@router.get(
    "/dataset-runs/{dataset_run_id}/export/",
    response_class=StreamingResponse,
    responses=EXPORT_RESPONSES,
)
def export_dataset_run(
    store: ProjectStore,
    dataset_run_id: str,
    format: Literal["csv", "json", "jsonl"] = "jsonl",
) -> StreamingResponse:
    store.dataset_runs.get(dataset_run_id)
    return export_experiment(store, dataset_run_id, format)


def _cell(column: str, text: str) -> Any:
    if text == "":
        return None
    if column in _JSON_CELLS:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
    return text


def parse_csv(data: bytes) -> list[RunItemCreate]:
    """Run items from CSV (header row; JSON cells decoded); errors name the line and column."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("the CSV file is not UTF-8 text", field="file") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise InvalidInput("the CSV file is empty: expected a header row", field="file")
    columns = []
    for name in header:
        key = _CSV_COLUMNS.get(name.strip().lower().replace(" ", "_"))
        if key is None:
            raise InvalidInput(
                f"unknown CSV column {name!r}; expected some of "
                "input, expected_output, output, dataset_item_id, trace_id, observation_id, "
                "error, latency_ms, cost, tokens_in, tokens_out",
                field="file",
            )
        columns.append(key)
    items = []
    for line, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(columns):
            raise InvalidInput(
                f"line {line}: {len(row)} cells for {len(columns)} columns", field="file", row=line
            )
        values = {c: _cell(c, cell) for c, cell in zip(columns, row, strict=True)}
        try:
            items.append(RunItemCreate(**{k: v for k, v in values.items() if v is not None}))
        except ValidationError as exc:
            raise from_validation(exc, prefix=f"line {line}: ") from None
    if not items:
        raise InvalidInput("the CSV file has no rows", field="file")
    return items


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
) -> UploadResult:
    """Upload a CSV of outputs into the dataset's run under ``tag`` (created when missing).

    With ``preview=true`` the parsed rows come back and nothing is written.
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
    return await run_in_threadpool(_upload, store, dataset_name, tag, name, items)


def _upload(
    store: ProjectStore, dataset: str, tag: str, name: str | None, items: list[RunItemCreate]
) -> UploadResult:
    runs = store.dataset_runs
    run = runs.tagged(dataset, tag)
    created = run is None
    if run is None:
        run = runs.create(DatasetRunCreate(dataset_name=dataset, name=name or tag, tag=tag))
    try:
        written = runs.add_items(run.id, items)
    except Exception:
        if created:  # a refused upload leaves no empty run behind
            store.experiments.delete(run.id)
        raise
    return UploadResult(dataset_run=runs.get(run.id), preview=[], rows=len(items), written=written)
