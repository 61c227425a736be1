"""Outputs uploaded as CSV into a dataset's run under a run tag: what the upload API and the
dashboard's upload form share. All rows or none: a refused upload leaves no run behind.

Also scoring an uploaded run on the server with saved evaluators (by default the dataset's
attached ones): the evaluators, and any judge keys they need, never leave the server.
"""

from __future__ import annotations

import asyncio
import io

from pydantic import BaseModel

from assay.domain import (
    DatasetRun,
    DatasetRunCreate,
    Evaluator,
    RunItemCreate,
    RunItemsResult,
    RunScoreReport,
    RunScoreRequest,
)
from assay.engine.rescore import rescore
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
    store: Store, dataset: str, tag: str, name: str | None, items: list[RunItemCreate]
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


async def score_run(store: Store, run_id: str, request: RunScoreRequest) -> RunScoreReport:
    """Score the run's completed outputs with saved evaluators, replacing their earlier scores
    of the same names (so scoring again, or after a lost answer, never duplicates)."""
    report = await asyncio.to_thread(_planned_scoring, store, run_id, request)
    if not report.evaluator_ids:
        return report
    done = await asyncio.to_thread(  # off the server's event loop: scorers run user patterns
        rescore, store, run_id, evaluators=report.evaluator_ids, concurrency=request.concurrency
    )
    return report.model_copy(
        update={
            "results": done.results,
            "scores": done.scores,
            "errors": done.errors,
            "passed": done.passed,
            "failed": done.failed,
            "cost": done.cost,
            "first_error": done.first_error,
        }
    )


def _planned_scoring(store: Store, run_id: str, request: RunScoreRequest) -> RunScoreReport:
    """The evaluators to apply (an empty report when there are none)."""
    run = store.dataset_runs.get(run_id)
    saved: list[Evaluator]
    if request.evaluators is None:
        saved = store.evaluators.defaults(run.dataset_id) if run.dataset_id else []
    else:
        saved = [store.evaluators.get(ref) for ref in request.evaluators]
    chosen: list[Evaluator] = []
    names = set(request.skip)
    for evaluator in saved:
        if evaluator.name not in names:
            names.add(evaluator.name)
            chosen.append(evaluator)
    return RunScoreReport(
        dataset_run_id=run.id,
        evaluators=[e.name for e in chosen],
        evaluator_ids=[e.id for e in chosen],
        results=0,
        scores=0,
        errors=0,
        passed=0,
        failed=0,
        cost=0.0,
        first_error=None,
    )
