"""The runner: executes an experiment's planned results through a target, scores and records them.

One asyncio task per concurrency slot pulls planned items from a shared iterator. Async
targets run on the loop under a per-attempt timeout; sync targets run on a thread pool, in
chunks sized so that each thread hop carries about two milliseconds of work (one item at a time
for slow functions, hundreds for instant ones). Failures are retried with backoff
(:mod:`assay.engine.attempts`); finished results are scored, traced and go to the
:class:`ResultWriter` (:mod:`assay.engine.outcomes`). A monitor task polls for cross-process
cancellation and keeps the heartbeat that tells other processes this run is alive.

The run is held under a lease (see :mod:`assay.store.lease`). A heartbeat that finds the lease
lost (another runner took the run over while this one was paused) stops the run at once: its
in-flight calls are cancelled, no new item starts, and nothing more is written, the writer's
transactions being fenced by the lease token. A slot that finds the last confirmed heartbeat
older than half of ``stale_after`` (the process was paused) checks the lease before it starts
another item.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

from assay.domain import Experiment, ExperimentStatus, WorkItem
from assay.engine.attempts import Attempts, Failed
from assay.engine.limits import AdaptiveLimit, Limiter, limiter_for
from assay.engine.options import Progress, RunOptions
from assay.engine.otel import capture as capture_otel
from assay.engine.retry import RetryPolicy, classify
from assay.engine.sequential import Watch, watch
from assay.engine.snapshot import Spool, store_snapshot
from assay.engine.spec import digest
from assay.engine.writer import ChildWriter, ResultWriter
from assay.interpreter import can_run_modules, relaxed_gc, short_switch_interval
from assay.scoring import Scorer
from assay.store import CachedResponse, Store
from assay.store.experiment_plans import PlannedRun
from assay.store.lease import FIRST_LEASE, Lease, LeaseLost
from assay.store.plan_stream import HeldWork, StreamedWork
from assay.store.planning import worker_id
from assay.store.unwritten import UnwrittenWork
from assay.targets import Target, TargetOutput, is_sync

log = logging.getLogger(__name__)

#: What a run executes: planned items as a list, or read from the store page by page.
Work = list[WorkItem] | StreamedWork | HeldWork | UnwrittenWork

_CHUNK_SECONDS = 0.002
_MAX_CHUNK = 256
_DRAIN_WAIT = 0.005  # seconds between looks at a writer that is far behind


class Runner(Attempts):
    """Runs one experiment; ``cancel()`` stops it (graceful first, forced when asked twice)."""

    def __init__(
        self,
        store: Store,
        target: Target,
        scorers: Sequence[Scorer] = (),
        options: RunOptions | None = None,
    ) -> None:
        self.store = store
        self.target = target
        self.scorers = list(scorers)
        self.options = options or RunOptions()
        self.policy = RetryPolicy(
            self.options.max_retries, self.options.backoff_base, self.options.backoff_max
        )
        self.timeout = (
            self.options.timeout
            if self.options.timeout is not None
            else getattr(target, "timeout", None)
        )
        self.sync = is_sync(target)
        self.progress = Progress()
        self.gate = AdaptiveLimit(
            self.options.concurrency, enabled=self.options.adaptive_concurrency
        )
        rpm = self.options.rpm or getattr(target, "rpm", None)
        tpm = self.options.tpm or getattr(target, "tpm", None)
        key = getattr(target, "rate_key", None) or target.kind
        self.limiter: Limiter | None = limiter_for(key, rpm, tpm)
        self.stop_reason: str | None = None
        self.first_error: str | None = None
        self._stopping = False
        self._stop_event: asyncio.Event | None = None
        self._abort = threading.Event()
        self._slots: list[asyncio.Task[None]] = []
        self._items: Iterator[WorkItem] = iter(())
        self._writer: ResultWriter | None = None
        self._fatal: BaseException | None = None
        self._spent = 0.0
        self._name = ""
        self._experiment_id = ""
        self._chunk_avg: float | None = None
        self._target_hash = digest(target.spec())
        self._cache: dict[str, CachedResponse] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._child: ChildWriter | None = None
        self._lease: Lease | None = None
        self._lost = False
        self._confirmed = 0.0
        self._sequential: Watch | None = None  # sequential stopping (engine/sequential.py)
        # Finished results the writer may hold unwritten before slots wait for it.
        self._max_backlog = max(4 * self.options.batch_size, 8_000)
        self._draining: asyncio.Future[None] | None = None

    # ------------------------------------------------------------------ writer process
    def _wants_process(self, expected: int) -> bool:
        mode = self.options.writer
        url = self.store.db.url
        in_memory = self.store.db.is_sqlite and (url.database or "") in ("", ":memory:")
        if mode == "thread" or in_memory:
            return False
        return mode == "process" or (
            expected >= self.options.process_writer_min
            and self.options.concurrency >= self.options.process_writer_concurrency
            and can_run_modules()
        )

    def prewarm(self, expected: int) -> None:
        """Start the writer process now if a run of ``expected`` results will want one; when
        ``auto`` chose it and it cannot start, the writer thread writes instead."""
        if self._child is None and self._wants_process(expected):
            url = self.store.db.url.render_as_string(hide_password=False)
            try:
                self._child = ChildWriter(url, self.store.project_id)
            except OSError:
                if self.options.writer == "process":
                    raise
                log.warning("could not start a writer process; writing from a thread instead")

    def discard(self) -> None:
        """Release a prewarmed writer process of a run that will not start."""
        if self._child is not None:
            self._child.discard()
            self._child = None

    # ------------------------------------------------------------------ control
    def cancel(self, *, force: bool = False, reason: str = "cancelled") -> None:
        """Stop the run: no new items; with ``force`` (or a second call) in-flight calls too.

        Safe to call from any thread (a signal handler, another task).
        """
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._cancel, force, reason)
                return
            except RuntimeError:  # the loop has closed: the run is over
                pass
        self._stopping = True
        self.stop_reason = self.stop_reason or reason

    def _cancel(self, force: bool, reason: str) -> None:
        force = force or self._stopping
        self._stopping = True
        self.stop_reason = self.stop_reason or reason
        if self._stop_event is not None:
            self._stop_event.set()
        if force:
            self._abort.set()
            for task in self._slots:
                task.cancel()

    # ------------------------------------------------------------------ run
    async def run(
        self,
        experiment_id: str,
        work: Work | None = None,
        *,
        planned: PlannedRun | None = None,
    ) -> Experiment:
        """Execute the experiment's unfinished results (or ``work``) and return it finished.

        With ``planned`` (a plan not yet written) the writer thread commits the plan first while
        the items already start running.
        """
        switching = contextlib.nullcontext() if self.sync else short_switch_interval()
        with relaxed_gc(), switching, capture_otel():  # OpenTelemetry spans inside target calls
            return await self._run(experiment_id, work, planned)

    async def _run(
        self, experiment_id: str, work: Work | None, planned: PlannedRun | None
    ) -> Experiment:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        if self._stopping:
            self._stop_event.set()
        experiments = self.store.experiments
        me = self.options.worker or worker_id()
        first_job: Callable[[], None] | None = None
        try:
            if planned is not None:
                experiment, work = planned.experiment, planned.work
                # no pending rows: each result is inserted whole as it finishes
                first_job = functools.partial(planned.commit, worker=me, write_pending=False)
                self._lease = Lease(experiment.id, me, FIRST_LEASE)
            else:
                experiment, self._lease = experiments.claim_lease(
                    experiment_id, me, stale_after=self.options.stale_after
                )
            self._confirmed = self.options.clock()
            if work is None:
                _, work = experiments.unfinished(
                    experiment.id, retry_errors=self.options.retry_errors
                )
            work, self._sequential = watch(self.store, experiment, work, fresh=planned is not None)
            self.prewarm(len(work))
            if self._child is not None and not self._wants_process(len(work)):
                self.discard()
        except BaseException:
            self.discard()
            raise
        self.progress = Progress(total=len(work))
        self._name, self._experiment_id = experiment.name, experiment.id
        if self.options.max_cost is not None and planned is None:
            self._spent = experiments.spent(experiment.id)
        self._items = self._looked_up(work) if self.options.cache else iter(work)
        spool = None
        if planned is not None:
            spool = Spool(planned.first_result_id, len(work))
        self._writer = writer = ResultWriter(
            self.store,
            experiment.id,
            batch_size=self.options.batch_size,
            flush_interval=self.options.flush_interval,
            on_written=self._on_written,
            child=self._child,
            first_job=first_job,
            lease=self._lease,
            spool=spool,
        )
        self._child = None
        self._pool = pool = (
            ThreadPoolExecutor(min(self.options.concurrency, 1000), "assay-target")
            if self.sync
            else None
        )
        finished = asyncio.Event()
        monitor = asyncio.create_task(self._monitor(experiment.id, me, finished))
        outer_cancelled = False
        try:
            slots = min(self.options.concurrency, max(len(work), 1))
            self._slots = [asyncio.create_task(self._slot(pool)) for _ in range(slots)]
            outcomes = await asyncio.gather(*self._slots, return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, Exception) and self._fatal is None:
                    self._fatal = outcome
        except asyncio.CancelledError:
            outer_cancelled = True
            self._cancel(True, "cancelled")
            await asyncio.gather(*self._slots, return_exceptions=True)
        finally:
            # Not cancelled: a poll already in a thread must end before the store may close.
            finished.set()
            await asyncio.shield(asyncio.gather(monitor, return_exceptions=True))
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
            await self._end(writer, outer_cancelled)
            closer = getattr(self.target, "aclose", None)
            if closer is not None:
                await closer()
        try:
            if outer_cancelled:
                raise asyncio.CancelledError
            if first_job is not None and not writer.first_job_done and writer.error is not None:
                raise writer.error  # the plan itself could not be written: nothing was stored
            if self._lost:
                raise LeaseLost(
                    f"experiment {experiment.id}: another runner took it over; this one stopped",
                    field="experiment",
                )
            await asyncio.to_thread(store_snapshot, self.store, experiment.id, writer.spool)
        finally:
            if writer.spool is not None:
                writer.spool.close()
        return experiments.get(experiment.id)

    async def _end(self, writer: ResultWriter, outer_cancelled: bool) -> None:
        """Write what is left and the run's outcome, unless the lease was lost meanwhile."""
        experiments, lease = self.store.experiments, self._lease
        # The last batches are written while the status says so: the two overlap rather
        # than the status change waiting for the writer's transaction, then the writer for it.
        closing = asyncio.ensure_future(asyncio.to_thread(writer.close))
        try:
            if not outer_cancelled and not self._stopping:
                try:
                    await asyncio.to_thread(
                        functools.partial(
                            experiments.set_status,
                            writer.experiment_id,
                            ExperimentStatus.scoring,
                            lease=lease,
                        )
                    )
                except BaseException:
                    await asyncio.gather(asyncio.shield(closing), return_exceptions=True)
                    raise
            try:
                await asyncio.shield(closing)
            except Exception as exc:
                self._fatal = self._fatal or exc
            if isinstance(self._fatal, LeaseLost):
                raise self._fatal
            if self._lost:
                return
            status, error = self._outcome()
            learned = None if self._sequential is None else self._sequential.outcome()
            await asyncio.shield(
                asyncio.to_thread(
                    functools.partial(
                        experiments.finish,
                        writer.experiment_id,
                        status,
                        error,
                        lease=lease,
                        metadata=learned,
                        written=writer.stored if writer.fresh else 0,
                    )
                )
            )
        except LeaseLost:
            self._lost = True
            self._fatal = None

    def _lose(self) -> None:
        """The lease is gone: stop everything now; nothing more is written."""
        self._lost = True
        self._cancel(True, "lease lost: another runner took the run over")

    async def _hold(self) -> bool:
        """Renew the lease (a heartbeat); False, and the run stops, when it was lost."""
        lease, writer = self._lease, self._writer
        if lease is None or self._lost:
            return not self._lost
        if writer is not None and not writer.first_job_done:
            return True  # the plan is not written yet: nobody else can hold the run
        experiments = self.store.experiments
        if await asyncio.to_thread(experiments.heartbeat, lease.experiment_id, lease.worker, lease):
            self._confirmed = self.options.clock()
            return True
        self._lose()
        return False

    def _paused(self) -> bool:
        """No heartbeat confirmed the lease for half of ``stale_after``: it may be lost."""
        if self._lease is None:
            return False
        return self.options.clock() - self._confirmed >= self.options.stale_after / 2

    def _outcome(self) -> tuple[ExperimentStatus, str | None]:
        p = self.progress
        if self._fatal is not None:
            return ExperimentStatus.failed, f"{type(self._fatal).__name__}: {self._fatal}"
        if (
            self._sequential is not None
            and self._sequential.settled
            and self.stop_reason
            in (
                None,
                self._sequential.reason,
            )
        ):
            return ExperimentStatus.completed, None  # stopped early: the answer is known
        if self.stop_reason and self.stop_reason.startswith("cost budget"):
            if p.done < p.total:
                return ExperimentStatus.failed, self.stop_reason
            return ExperimentStatus.completed, None
        if self._stopping:
            return ExperimentStatus.cancelled, self.stop_reason
        if p.done and p.completed == 0 and p.failed == p.done:
            return (
                ExperimentStatus.failed,
                ("the only result" if p.failed == 1 else f"all {p.failed} results")
                + f" failed; first: {self.first_error}",
            )
        return ExperimentStatus.completed, None

    def _on_written(self, written: int) -> None:
        self.progress.written = written

    async def _monitor(self, experiment_id: str, me: str, finished: asyncio.Event) -> None:
        experiments = self.store.experiments
        beat = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.wait(), self.options.poll_interval)
            if finished.is_set():
                return
            writer = self._writer
            if isinstance(writer and writer.error, LeaseLost):
                self._lose()
            elif writer is not None and writer.error is not None and self._fatal is None:
                self._fatal = writer.error
                self._cancel(True, "storage failure")
            if await asyncio.to_thread(experiments.cancel_requested, experiment_id):
                self._cancel(True, "cancelled by request")
            if time.monotonic() - beat >= self.options.heartbeat_interval:
                beat = time.monotonic()
                if self._lease is None:
                    await asyncio.to_thread(experiments.heartbeat, experiment_id, me)
                elif not await self._hold():
                    return

    # ------------------------------------------------------------------ slots
    def _take(self, n: int) -> list[WorkItem]:
        if self._stopping:
            return []
        chunk: list[WorkItem] = []
        for item in self._items:
            chunk.append(item)
            if len(chunk) >= n:
                break
        return chunk

    def _chunk_size(self) -> int:
        if self._chunk_avg is None or self.options.max_cost is not None:
            return 1  # a budget is checked after every call
        if self._chunk_avg <= 0:
            return _MAX_CHUNK
        return max(1, min(_MAX_CHUNK, int(_CHUNK_SECONDS / self._chunk_avg)))

    async def _drain(self) -> None:
        """Wait while the writer is far behind, so finished results never pile up in memory
        (a fast target outruns the database; the backlog stays bounded whatever the run's
        size). One task watches the writer however many slots wait on it."""
        if self._draining is None or self._draining.done():
            self._draining = asyncio.ensure_future(self._watch_backlog())
        await asyncio.shield(self._draining)

    async def _watch_backlog(self) -> None:
        writer = self._writer
        while (
            writer is not None
            and writer.backlog > self._max_backlog
            and writer.error is None
            and not self._stopping
        ):
            await asyncio.sleep(_DRAIN_WAIT)

    async def _slot(self, pool: ThreadPoolExecutor | None) -> None:
        loop = asyncio.get_running_loop()
        while True:
            # Before an item starts: after a pause the lease is checked first, so a paused
            # runner starts nothing more once another runner has taken the run over.
            if self._lost or (self._paused() and not await self._hold()):
                return
            if self._writer is not None and self._writer.backlog > self._max_backlog:
                await self._drain()
            if pool is not None and self.timeout is None:
                chunk = self._take(self._chunk_size())
                if not chunk:
                    self._no_more_work()
                    return
                if self._cache:
                    chunk = [i for i in chunk if not await self._serve_cached(i)]
                    if not chunk:
                        continue
                await self.gate.acquire()
                try:
                    ran = await loop.run_in_executor(pool, self._run_chunk, chunk)
                finally:
                    self.gate.release()
                if len(ran) < len(chunk) and not self._stopping:  # paused: the rest waits
                    self._items = itertools.chain(chunk[len(ran) :], self._items)
                for item, output, error, latency, started in ran:
                    if error is None and output is not None:
                        await self._succeed(item, output, 1, latency, started)
                    else:
                        assert error is not None
                        failed = Failed(classify(error), 1, latency, started)
                        await self._execute(item, pool, failed)
            else:
                single = None if self._stopping else next(self._items, None)
                if single is None:
                    self._no_more_work()
                    return
                if self._cache and await self._serve_cached(single):
                    continue
                await self._execute(single, pool)

    def _no_more_work(self) -> None:
        """Every call has started: the writer need not gather large batches any more."""
        if self._writer is not None:
            self._writer.hurry()

    def _run_chunk(
        self, chunk: list[WorkItem]
    ) -> list[tuple[WorkItem, TargetOutput | None, BaseException | None, float, float]]:
        """Runs on a pool thread: the chunk's calls one after the other, timed."""
        call = self.target.call_sync  # type: ignore[attr-defined]
        out: list[tuple[WorkItem, TargetOutput | None, BaseException | None, float, float]] = []
        clock = time.perf_counter
        begin = clock()
        for item in chunk:
            if self._abort.is_set() or (out and self._paused()):
                break
            started = time.time()
            t0 = clock()
            try:
                out.append((item, call(item), None, (clock() - t0) * 1000, started))
            except Exception as exc:
                out.append((item, None, exc, (clock() - t0) * 1000, started))
        if out:
            per_call = (clock() - begin) / len(out)
            avg = self._chunk_avg
            self._chunk_avg = per_call if avg is None else 0.8 * avg + 0.2 * per_call
        return out
