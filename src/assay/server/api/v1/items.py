"""Dataset items: CRUD, bulk import (JSON body or CSV/JSON/JSONL file), and items from runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from assay.domain import (
    CreateItemsRequest,
    FromRunRequest,
    ImportRequest,
    ImportResult,
    Item,
    ItemCreate,
    ItemSort,
    ItemSource,
    ItemUpdate,
    Page,
)
from assay.errors import InvalidInput
from assay.io import FORMATS, detect_format, import_upload, parse_mapping
from assay.server.auth import ProjectStore
from assay.server.limits import MAX_VERSION
from assay.store import Store, VersionChange

router = APIRouter(tags=["items"])


@router.get("/datasets/{dataset_id}/items/")
def list_items(
    store: ProjectStore,
    dataset_id: str,
    version: Annotated[
        int | None, Query(ge=0, le=MAX_VERSION, description="Items as of this version.")
    ] = None,
    search: str | None = None,
    tag: str | None = None,
    include_archived: bool = False,
    sort: ItemSort = "sort_order",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: str | None = None,
) -> Page[Item]:
    """List items: sort, search, tag filter, cursor pagination, any past version."""
    return store.datasets.list_items(
        dataset_id,
        version=version,
        search=search,
        tag=tag,
        include_archived=include_archived,
        sort=sort,
        limit=limit,
        cursor=cursor,
    )


@router.post("/datasets/{dataset_id}/items/", status_code=201)
def create_item(store: ProjectStore, dataset_id: str, body: ItemCreate) -> Item:
    """Add one item (a new dataset version)."""
    return store.datasets.add_item(dataset_id, body)


@router.get("/datasets/{dataset_id}/items/{item_id}/")
def get_item(
    store: ProjectStore,
    dataset_id: str,
    item_id: str,
    version: Annotated[int | None, Query(ge=0, le=MAX_VERSION)] = None,
) -> Item:
    return store.datasets.get_item(dataset_id, item_id, version=version)


@router.put("/datasets/{dataset_id}/items/{item_id}/")
def update_item(store: ProjectStore, dataset_id: str, item_id: str, body: ItemUpdate) -> Item:
    """Change an item; omitted fields keep their value."""
    return store.datasets.update_item(dataset_id, item_id, body)


@router.delete("/datasets/{dataset_id}/items/{item_id}/", status_code=204)
def delete_item(store: ProjectStore, dataset_id: str, item_id: str) -> Response:
    store.datasets.delete_item(dataset_id, item_id)
    return Response(status_code=204)


_IMPORT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/ImportRequest"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "format": {"type": "string", "enum": list(FORMATS)},
                        "map": {
                            "type": "array",
                            "items": {"type": "string"},
                            "description": "COLUMN=FIELD, e.g. question=input.query",
                        },
                    },
                }
            },
        },
    }
}


@router.post(
    "/datasets/{dataset_id}/import/",
    status_code=201,
    openapi_extra=_IMPORT_BODY,
    responses={422: {"description": "A row or field is invalid; nothing was imported."}},
)
async def import_items(store: ProjectStore, dataset_id: str, request: Request) -> ImportResult:
    """Append many items as one new version, all or nothing: a JSON body ``{"items": [...]}``
    or a multipart CSV / JSON / JSONL ``file``."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        change = await _import_file(store, dataset_id, request)
    else:
        raw = await request.body()
        try:
            body = ImportRequest.model_validate_json(raw or b"{}")
        except ValidationError as exc:
            errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
            raise RequestValidationError(errors) from None
        change = await run_in_threadpool(_import_json, store, dataset_id, body.items)
    return ImportResult(
        dataset_id=change.dataset_id,
        imported=change.added,
        total_items=change.item_count,
        version=change.version,
    )


def _import_json(store: Store, dataset_id: str, items: list[ItemCreate]) -> VersionChange:
    marked = [
        i if "source" in i.model_fields_set else i.model_copy(update={"source": ItemSource.import_})
        for i in items
    ]
    return store.datasets.add_items(dataset_id, marked, message="import")


async def _import_file(store: Store, dataset_id: str, request: Request) -> VersionChange:
    form = await request.form()
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("multipart import needs a 'file' part", field="file")
        given = form.get("format")
        if given is not None and (not isinstance(given, str) or given not in FORMATS):
            raise InvalidInput(
                f"unknown format {given!r}: use one of {', '.join(FORMATS)}", field="format"
            )
        fmt = detect_format(Path(upload.filename or "upload"), given)
        mapping = parse_mapping([m for m in form.getlist("map") if isinstance(m, str)])
        return await run_in_threadpool(
            import_upload,
            store,
            upload.file,
            format=fmt,
            dataset=dataset_id,
            mapping=mapping or None,
            source_name=upload.filename or "upload",
        )
    finally:
        await form.close()


@router.post("/datasets/{dataset_id}/from-run/", status_code=201)
def item_from_run(store: ProjectStore, dataset_id: str, body: FromRunRequest) -> Item:
    """Turn a recorded run (a trace) into an item: its input becomes the input, its output the
    expected output; the agent name and workflow go into the context."""
    dataset = store.datasets.get(dataset_id)
    return store.datasets.add_item(dataset.id, store.traces.to_item(body.run_id))


@router.post("/dataset-items/", status_code=201)
def create_items(store: ProjectStore, body: CreateItemsRequest) -> ImportResult:
    """Add items to the dataset named in the body (``datasetName``), as one new version."""
    change = store.datasets.add_items(body.dataset_name, body.items)
    return ImportResult(
        dataset_id=change.dataset_id,
        imported=change.added,
        total_items=change.item_count,
        version=change.version,
    )
