"""Uploaded results scored in the background by their dataset's attached evaluators.

An upload through the API queues its completed outputs (``store/upload_scoring.py``) and
answers at once; :class:`UploadScorer`, run by every worker beside the experiment queue and the
online evaluator, takes the jobs in batches, scores them (several at a time: judges are slow)
and stores each batch's scores with the jobs' completion in one transaction, so each
(result, evaluator version) is scored once however many workers run. An evaluator whose score
the uploader sent (one without an evaluator id) leaves that result alone; a scorer that fails
gives a score without a value whose reason says why.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from assay.config import Settings
from assay.domain import ScoreCreate
from assay.engine.rescore import sample_of
from assay.errors import AssayError
from assay.scoring import Scorer, build, run_scorer
from assay.service.polling import poll
from assay.store import Database, Store
from assay.store.planning import worker_id
from assay.store.upload_scoring import ScoringJob, UploadScoringQueue

log = logging.getLogger("assay.upload_scoring")


@dataclass(slots=True)
class ScoringPass:
    """What one pass did."""

    jobs: int = 0
    scores: int = 0
    skipped: int = 0
    runs_finished: int = 0


class UploadScorer:
    """Scores queued uploaded results, batch after batch."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        worker: str | None = None,
        project_ids: Sequence[str] | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.queue = UploadScoringQueue(db)
        self.me = worker or worker_id()
        self.project_ids = project_ids

    async def run_once(self, *, limit: int = 100) -> ScoringPass:
        """Take up to ``limit`` jobs, score them and store the scores."""
        jobs = await asyncio.to_thread(
            self.queue.claim,
            self.me,
            lease_s=self.settings.online_lease_s,
            limit=limit,
            project_ids=self.project_ids,
        )
        done = ScoringPass(jobs=len(jobs))
        if not jobs:
            return done
        try:
            scored = await self._score(jobs, done)
            stored, finished = await asyncio.to_thread(self.queue.finish, jobs, scored)
        except BaseException:
            await asyncio.to_thread(self.queue.release, self.me, jobs)
            raise
        done.scores = stored
        done.runs_finished = len(finished)
        if finished:
            await asyncio.to_thread(self._snapshot, jobs, finished)
        return done

    async def run_forever(self, stopping: threading.Event, *, until_idle: bool = False) -> None:
        """Score batches until ``stopping`` is set (or, ``until_idle``, none is queued)."""

        async def step() -> bool:
            return bool((await self.run_once()).jobs)

        await poll(
            step,
            stopping,
            self.settings.worker_poll_interval,
            until_idle=until_idle,
            failure="scoring uploaded results failed",
        )

    async def _score(
        self, jobs: Sequence[ScoringJob], done: ScoringPass
    ) -> dict[tuple[str, str], list[ScoreCreate]]:
        """Each job's scores by (result id, evaluator id); jobs left out are done unscored."""
        stored = await asyncio.to_thread(self.queue.results, jobs)
        uploaded = await asyncio.to_thread(self.queue.uploaded, list(stored))
        built: dict[tuple[str, str], tuple[str, int, Scorer | AssayError] | None] = {}
        for job in jobs:
            key = (job.project_id, job.evaluator_id)
            if key not in built:
                built[key] = await asyncio.to_thread(_built, Store(self.db, job.project_id), key[1])
        gate = asyncio.Semaphore(max(1, self.settings.online_concurrency))
        out: dict[tuple[str, str], list[ScoreCreate]] = {}

        async def one(job: ScoringJob) -> None:
            result = stored.get(job.result_id)
            evaluator = built[(job.project_id, job.evaluator_id)]
            if result is None or evaluator is None:  # no longer a completed output, or deleted
                done.skipped += 1
                return
            name, version, scorer = evaluator
            if (job.result_id, name) in uploaded:  # the uploader's score wins
                done.skipped += 1
                return
            if isinstance(scorer, AssayError):
                scores = [_failed(name, scorer.message)]
            else:
                async with gate:
                    try:
                        scores = await run_scorer(scorer, sample_of(result))
                    except AssayError as exc:
                        scores = [_failed(scorer.name, exc.message)]
            for score in scores:  # failures too: which evaluator version could not score
                if score.evaluator_id is None:
                    score.evaluator_id, score.evaluator_version = job.evaluator_id, version
            out[(job.result_id, job.evaluator_id)] = scores

        await asyncio.gather(*(one(job) for job in jobs))
        return out

    def _snapshot(self, jobs: Sequence[ScoringJob], finished: Sequence[str]) -> None:
        """Refresh the analysis snapshot of runs whose scoring just ended."""
        from assay.analysis.service import store_frame  # NumPy: loaded when a run is done

        projects = {j.experiment_id: j.project_id for j in jobs}
        for run_id in finished:
            try:
                store_frame(Store(self.db, projects[run_id]), run_id)
            except Exception:  # the snapshot is an optimisation; the scores are stored
                log.exception("snapshot of run %s failed", run_id)


def _built(store: Store, evaluator_id: str) -> tuple[str, int, Scorer | AssayError] | None:
    """(name, version, scorer or why it does not build) of a saved evaluator version; None
    when it is gone."""
    try:
        saved = store.evaluators.get(evaluator_id)
    except AssayError:
        return None
    try:
        return saved.name, saved.version, build(saved)
    except AssayError as exc:
        return saved.name, saved.version, exc


def _failed(name: str, why: str) -> ScoreCreate:
    return ScoreCreate(name=name, value=None, reason=f"scorer error: {why}")
