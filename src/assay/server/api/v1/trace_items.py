"""``/api/v1/datasets/{id}/items/from-traces/``: dataset items from recorded traces."""

from __future__ import annotations

from fastapi import APIRouter

from assay.domain.trace_items import FromTracesRequest, FromTracesResult
from assay.server.auth import ProjectStore
from assay.service.trace_datasets import add_from_traces

router = APIRouter(tags=["items"])


@router.post("/datasets/{dataset_id}/items/from-traces/")
def items_from_traces(
    store: ProjectStore, dataset_id: str, body: FromTracesRequest
) -> FromTracesResult:
    """Add recorded traces (by id and/or filter) as items, mapped field by field, as one new
    version; a trace already in the dataset is not added again (items keep
    ``source_trace_id``)."""
    return add_from_traces(store, dataset_id, body)
