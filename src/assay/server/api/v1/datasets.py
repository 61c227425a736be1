"""``/api/v1/datasets/``: datasets, their versions, diffs and exports."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from assay.domain import (
    Dataset,
    DatasetCreate,
    DatasetDetail,
    DatasetDiff,
    DatasetSort,
    DatasetUpdate,
    DatasetVersion,
    Page,
)
from assay.errors import InvalidInput
from assay.io import export_dataset
from assay.server.auth import AdminStore, ProjectStore
from assay.server.limits import MAX_VERSION
from assay.store import Store

router = APIRouter(tags=["datasets"])

RECENT_ITEMS = 10
_MEDIA = {"csv": "text/csv", "json": "application/json", "jsonl": "application/x-ndjson"}
_CHUNK = 64 * 1024


@router.get("/datasets/")
def list_datasets(
    store: ProjectStore,
    search: Annotated[str | None, Query(description="Substring of name or description.")] = None,
    tags: Annotated[
        list[str] | None, Query(alias="tags", description="Only datasets with this tag.")
    ] = None,
    tag: Annotated[str | None, Query(description="Same as tags (one value).")] = None,
    sort: DatasetSort = "-created_at",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: str | None = None,
) -> Page[Dataset]:
    """List datasets: search, tag filter, sort and cursor pagination."""
    wanted = {t.strip() for t in [*(tags or []), *([tag] if tag else [])] for t in t.split(",")}
    wanted.discard("")
    if len(wanted) > 1:
        raise InvalidInput("filter by one tag at a time", field="tags")
    return store.datasets.list(
        search=search, tag=next(iter(wanted), None), sort=sort, limit=limit, cursor=cursor
    )


@router.post(
    "/datasets/",
    status_code=201,
    responses={200: {"model": Dataset, "description": "An identical dataset already existed."}},
)
def create_dataset(store: ProjectStore, body: DatasetCreate, response: Response) -> Dataset:
    """Create an empty dataset. Creating it again with the same fields returns it (200); a
    dataset of that name with other fields is a conflict (409)."""
    dataset, created = store.datasets.create_once(body)
    if not created:
        response.status_code = 200
    return dataset


@router.get("/datasets/{dataset_id}/")
def get_dataset(store: ProjectStore, dataset_id: str) -> DatasetDetail:
    """A dataset (by id or name) with its most recently added items."""
    dataset = store.datasets.get(dataset_id)
    recent = store.datasets.list_items(dataset.id, sort="-created_at", limit=RECENT_ITEMS)
    return DatasetDetail(**dataset.model_dump(), recent_items=recent.items)


@router.put("/datasets/{dataset_id}/")
def update_dataset(store: ProjectStore, dataset_id: str, body: DatasetUpdate) -> Dataset:
    """Change name, description, tags, metadata or schemas; omitted fields are kept."""
    return store.datasets.update(dataset_id, body)


@router.delete("/datasets/{dataset_id}/", status_code=204)
def delete_dataset(store: AdminStore, dataset_id: str) -> Response:
    """Delete a dataset with all its items and versions. Needs an admin key."""
    store.datasets.delete(dataset_id)
    return Response(status_code=204)


@router.get("/datasets/{dataset_id}/versions/")
def list_versions(store: ProjectStore, dataset_id: str) -> Page[DatasetVersion]:
    """Every version of the dataset, newest first, with what changed in it."""
    return Page[DatasetVersion](items=store.datasets.versions(dataset_id))


@router.get("/datasets/{dataset_id}/diff/")
def diff_versions(
    store: ProjectStore,
    dataset_id: str,
    from_version: Annotated[int, Query(alias="from", ge=0, le=MAX_VERSION)],
    to_version: Annotated[int | None, Query(alias="to", ge=0, le=MAX_VERSION)] = None,
) -> DatasetDiff:
    """Items added, changed and removed between two versions (``to`` defaults to current)."""
    return store.datasets.diff(dataset_id, from_version, to_version)


@router.get(
    "/datasets/{dataset_id}/export/",
    response_class=StreamingResponse,
    responses={200: {"content": {m: {} for m in _MEDIA.values()}}},
)
async def export(
    store: ProjectStore,
    dataset_id: str,
    format: Literal["csv", "json", "jsonl"] = "jsonl",
    version: Annotated[int | None, Query(ge=0, le=MAX_VERSION)] = None,
) -> StreamingResponse:
    """Download the items (at ``version``, default current) as CSV, JSON or JSONL."""
    dataset = await run_in_threadpool(store.datasets.get, dataset_id)
    spool = await run_in_threadpool(_export_to_spool, store, dataset.id, format, version)
    shown = dataset.version if version is None else version
    filename = f"{_safe(dataset.name)}-v{shown}.{format}"
    return StreamingResponse(
        _chunks(spool),
        media_type=_MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _export_to_spool(
    store: Store, dataset_id: str, format: Literal["csv", "json", "jsonl"], version: int | None
) -> tempfile.SpooledTemporaryFile[bytes]:
    """Write the export to memory (spilling to disk when large) so errors surface before the
    response starts; the response then streams it in chunks."""
    spool: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115
        max_size=8 * 1024 * 1024
    )
    try:
        export_dataset(store, dataset_id, spool, format=format, version=version)  # type: ignore[arg-type]
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool


def _chunks(spool: tempfile.SpooledTemporaryFile[bytes]) -> Iterator[bytes]:
    with spool:
        while chunk := spool.read(_CHUNK):
            yield chunk


def _safe(name: str) -> str:
    return (
        "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in name)[:100]
        or "dataset"
    )
