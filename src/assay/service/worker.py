"""The background worker: takes started experiments from the database and runs them.

It runs in a thread of ``assay serve`` (unless ``ASSAY_SERVE_WORKER=false``) and in every
``assay worker`` process; with ``ASSAY_RAY_ADDRESS`` set it runs each experiment as shards on
that Ray cluster (:mod:`assay.scaleout`), staying the run's driver. Beside the experiments it
scores settled production traces with the projects' online rules (``service/online.py``) and
uploaded results with their datasets' attached evaluators (``service/upload_scoring.py``). A
process that stops mid-run leaves the experiment ``running``; the next worker to look takes it
over (dead process or stale heartbeat) and runs only what is unfinished: completed results are
never run or written twice.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from assay.config import Settings
from assay.domain import ExperimentStatus
from assay.engine import Runner, RunOptions, build_scorers, check_resumable, config_hash
from assay.errors import AssayError
from assay.outbound import enforced, server_policy
from assay.service.online import OnlineEvaluator
from assay.service.polling import poll
from assay.service.targets import run_options, runnable
from assay.service.upload_scoring import UploadScorer
from assay.store import Database, Store
from assay.store.planning import worker_id
from assay.store.queue import Claim, RunQueue
from assay.sync import run_sync

log = logging.getLogger("assay.worker")


class Worker:
    """Runs started experiments one after another until stopped."""

    def __init__(
        self, settings: Settings, db: Database, *, project_ids: list[str] | None = None
    ) -> None:
        self.settings = settings
        self.project_ids = project_ids
        self.db = db
        self.queue = RunQueue(db)
        self.me = worker_id()
        self.stopping = threading.Event()
        self.runs = 0
        self.online = OnlineEvaluator(settings, db, worker=self.me, project_ids=project_ids)
        self.uploads = UploadScorer(settings, db, worker=self.me, project_ids=project_ids)
        self._thread: threading.Thread | None = None

    def start_thread(self) -> None:
        """Run in a daemon thread of this process (the server's in-process worker)."""
        self._thread = threading.Thread(target=self.run_forever, name="assay-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop looking for work; a run in progress is left for the next worker if it outlives
        ``timeout``. Returns whether the worker has ended (its connections are back)."""
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def run_forever(self, *, until_idle: bool = False) -> None:
        run_sync(self._loop(until_idle), name="assay-worker-loop")

    async def _loop(self, until_idle: bool) -> None:
        with enforced(server_policy(self.settings)):  # targets and judges it builds are guarded
            await asyncio.gather(
                self._claims(until_idle),
                self.online.run_forever(self.stopping, until_idle=until_idle),
                self.uploads.run_forever(self.stopping, until_idle=until_idle),
            )

    async def _claims(self, until_idle: bool) -> None:
        async def step() -> bool:
            claim = await asyncio.to_thread(
                self.queue.claim_next,
                self.me,
                stale_after=self.settings.worker_stale_after,
                project_ids=self.project_ids,
            )
            if claim is None:
                return False
            try:
                await self.run_claim(claim)
            except Exception:  # one broken run must not stop the worker
                log.exception("experiment %s failed in the worker", claim.experiment_id)
            return True

        await poll(
            step,
            self.stopping,
            self.settings.worker_poll_interval,
            until_idle=until_idle,
            failure="taking the next queued run failed",
        )

    async def run_claim(self, claim: Claim) -> None:
        store = Store(self.db, claim.project_id)
        experiment = store.experiments.get(claim.experiment_id)
        if store.experiments.cancel_requested(experiment.id):  # cancelled as it was taken
            store.experiments.finish(experiment.id, ExperimentStatus.cancelled, "cancelled")
            return
        try:
            target, scorers = await asyncio.to_thread(runnable, store, self.settings, experiment)
            built, recorded = build_scorers(scorers)
            check_resumable(experiment, config_hash(target.spec(), recorded))
        except AssayError as exc:
            store.experiments.finish(experiment.id, ExperimentStatus.failed, exc.message)
            return
        stale = self.settings.worker_stale_after
        options = RunOptions.from_settings(
            run_options(experiment.config).model_copy(
                update={"concurrency": experiment.concurrency}
            ),
            worker=self.me,
            stale_after=stale,
            heartbeat_interval=min(5.0, stale / 3),
        )
        self.runs += 1
        runner = Runner(store, target, built, options)
        if self.settings.ray_address:  # the run's shards go to the Ray cluster
            from assay.scaleout.driver import RayRunner

            runner = RayRunner(store, target, built, options, address=self.settings.ray_address)
        await runner.run(experiment.id)
