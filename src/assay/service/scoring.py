"""Scoring stored runs again without running their targets.

:func:`rescore_experiment` applies scorers or saved evaluators to an experiment (``assay score``,
``assay.rescore()``); :func:`score_run` applies saved evaluators (by default the dataset's
attached ones) to a run whose outputs were uploaded, on the server, so the evaluators and any
judge keys they need never leave it. Scores of the same names are replaced, so scoring again
never duplicates.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import Any

from assay.domain import Evaluator, RunScoreReport, RunScoreRequest
from assay.engine.rescore import RescoreReport, rescore_results, rescore_results_async
from assay.store import Store
from assay.store.types import utcnow
from assay.store.upload_scoring import UploadScoringQueue
from assay.sync import run_sync


def rescore_experiment(
    store: Store,
    run: str,
    scorers: Sequence[Any] = (),
    *,
    evaluators: Sequence[str] = (),
    concurrency: int = 8,
) -> RescoreReport:
    """Score experiment ``run`` (id or name) with ``scorers`` (objects, names or specs) and
    saved ``evaluators`` (ids or names); each result's ``passed`` is recomputed."""
    coro = rescore_results_async(
        store, run, scorers, evaluators=evaluators, concurrency=concurrency
    )
    return run_sync(coro, name="assay-rescore")


async def score_run(store: Store, run_id: str, request: RunScoreRequest) -> RunScoreReport:
    """Score the run's completed outputs with saved evaluators, replacing their earlier scores
    of the same names (so scoring again, or after a lost answer, never duplicates)."""
    started = utcnow()
    report = await asyncio.to_thread(_planned_scoring, store, run_id, request)
    if not report.evaluator_ids:
        return report
    done = await asyncio.to_thread(  # off the server's event loop: scorers run user patterns
        rescore_results,
        store,
        run_id,
        evaluators=report.evaluator_ids,
        concurrency=request.concurrency,
    )
    # Uploads queued before this call are scored now: the worker need not score them again.
    queue = UploadScoringQueue(store.db)
    await asyncio.to_thread(
        functools.partial(
            queue.mark_done, report.dataset_run_id, report.evaluator_ids, queued_before=started
        )
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


def score_run_now(store: Store, run_id: str, request: RunScoreRequest) -> RunScoreReport:
    """Blocking form of :func:`score_run` (the dashboard's upload and *Score this run*)."""
    return run_sync(score_run(store, run_id, request), name="assay-score-run")
