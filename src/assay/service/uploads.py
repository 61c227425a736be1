"""Outputs uploaded as CSV into a dataset's run under a run tag: what the upload API and the
dashboard's upload form share. All rows or none: a refused upload leaves no run behind.
"""

from __future__ import annotations

import io

from pydantic import BaseModel

from assay.domain import DatasetRun, DatasetRunCreate, RunItemCreate, RunItemsResult
from assay.io import read_run_outputs
from assay.store import Store


class UploadResult(BaseModel):
    dataset_run: DatasetRun | None
    preview: list[RunItemCreate]
    rows: int
    written: RunItemsResult | None


def parse_csv(data: bytes) -> list[RunItemCreate]:
    """Run items from an uploaded CSV, read by :func:`assay.io.read_run_outputs` with the
    dataset import's cell rules; errors name the row and column."""
    return [item for _, item in read_run_outputs(io.BytesIO(data))]


def upload_outputs(
    store: Store,
    dataset: str,
    tag: str,
    name: str | None,
    items: list[RunItemCreate],
    *,
    score: bool = True,
) -> UploadResult:
    """Write the rows into the run tagged ``tag`` (created when missing); with ``score``, the
    worker applies the dataset's attached evaluators to them afterwards."""
    runs = store.dataset_runs
    run = runs.tagged(dataset, tag)
    created = run is None
    if run is None:
        run = runs.create(DatasetRunCreate(dataset_name=dataset, name=name or tag, tag=tag))
    try:
        written = runs.add_items(run.id, items, score=score)
    except Exception:
        if created:  # a refused upload leaves no empty run behind
            store.experiments.delete(run.id)
        raise
    return UploadResult(dataset_run=runs.get(run.id), preview=[], rows=len(items), written=written)
