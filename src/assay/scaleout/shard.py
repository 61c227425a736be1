"""A shard: part of one run's planned results, executed by the engine's runner on a Ray worker.

:class:`ShardRunner` is the engine's :class:`~assay.engine.runner.Runner` with its own
concurrency, retries, timeouts and scorers (scoring where the output was produced); only what
surrounds the slots differs. The run's lease, plan and outcome belong to the driver, so a shard
claims nothing and finishes nothing: it writes its results, fenced by the driver's lease, either
straight to PostgreSQL or (SQLite) through the coordinator's inbox to the driver's writer, and
polls the coordinator for the stop signal and the global budget. Rate limits go through
:class:`ClusterLimiter`, one window for the whole cluster.

A shard tried again by Ray (its worker or node died) first drops the results already finished:
those in the store (PostgreSQL) or already sent to the driver (SQLite), so nothing is run or
written twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

import ray

from assay.domain import WorkItem
from assay.engine.options import Progress, RunOptions
from assay.engine.runner import Runner
from assay.engine.writer import ChildWriter, ResultWriter
from assay.scaleout.coordinator import COUNTS, LEASE_TTL, Stop
from assay.scoring import Scorer
from assay.store import CachedResponse, Database, Store
from assay.store.lease import Lease
from assay.store.recording import Rows
from assay.store.shards import finished_ids
from assay.targets import Target

Handle = Any  # the run's coordinator (a CoordinatorRef: called like an actor handle)
SETTLE_BATCH = 32


@dataclass
class ShardSpec:
    """Everything a shard needs, sent to its worker (pickled by Ray)."""

    index: int
    experiment_id: str
    name: str
    project_id: str
    lease: Lease | None
    work: list[WorkItem]
    target: Target
    scorers: list[Scorer]
    options: RunOptions
    coordinator: Handle
    rate_key: str | None = None
    db_url: str | None = None  # PostgreSQL: write directly; None: send to the driver
    cache: dict[str, CachedResponse] = field(default_factory=dict)


@dataclass
class ShardOutcome:
    """What a shard did (the driver sums these into the run's outcome)."""

    index: int
    counts: dict[str, int]
    cost: float
    skipped: int
    stop_reason: str | None
    first_error: str | None
    fatal: str | None


class ClusterLimiter:
    """A :class:`~assay.engine.limits.Limiter` over the coordinator's one window per provider.

    Permits are leased in blocks (up to ``block``, about the shard's concurrency) rather than
    one round trip per request; a permit not used within :data:`LEASE_TTL` of asking is given
    back. The tokens calls really used are sent back in batches, with the next lease or every
    :data:`SETTLE_BATCH` calls.
    """

    def __init__(self, coordinator: Handle, key: str, block: int = 1, ceiling: float = 1.0) -> None:
        self.coordinator = coordinator
        self.key = key
        self.block = max(1, block)
        self.ceiling = ceiling  # ask again at least this often (seconds)
        self.permits: deque[tuple[int, float]] = deque()  # (ticket, use before: monotonic)
        self.settled: list[tuple[int, float]] = []
        self.unused: list[int] = []
        self.leases = 0  # round trips to the coordinator
        self._lock = asyncio.Lock()

    def _take(self) -> int | None:
        now = time.monotonic()
        while self.permits:
            ticket, deadline = self.permits.popleft()
            if now < deadline:
                return ticket
            self.unused.append(ticket)
        return None

    async def acquire(self, tokens: float = 0.0) -> int | None:
        while True:
            ticket = self._take()
            if ticket is not None:
                return ticket
            async with self._lock:
                if self.permits:  # another slot leased a block meanwhile
                    continue
                asked = time.monotonic()  # a permit is granted after this: its deadline counts
                settled, self.settled = self.settled, []  # from here, never later
                unused, self.unused = self.unused, []
                tickets, wait = await self.coordinator.lease.remote(
                    self.key, tokens, self.block, settled, unused
                )
                self.leases += 1
                if not tickets and wait <= 0:
                    return None  # no limit for this key
                self.permits.extend((t, asked + LEASE_TTL) for t in tickets)
                if not tickets:
                    await asyncio.sleep(min(wait, self.ceiling))

    def settle(self, event: Any, tokens: float) -> None:
        if event is None:
            return
        self.settled.append((event, tokens))
        if len(self.settled) >= SETTLE_BATCH:
            settled, self.settled = self.settled, []
            self.coordinator.settle_many.remote(settled)

    async def close(self) -> None:
        """Send what is settled and give back the permits left (the shard has ended)."""
        self.unused.extend(t for t, _ in self.permits)
        self.permits.clear()
        if self.settled or self.unused:
            settled, self.settled = self.settled, []
            unused, self.unused = self.unused, []
            with contextlib.suppress(ray.exceptions.RayError):
                await self.coordinator.lease.remote(self.key, 0.0, 0, settled, unused)


class InboxSink:
    """Stands in for the writer process of a :class:`ResultWriter`: each batch goes to the
    coordinator's inbox, which the driver's single writer drains (SQLite)."""

    def __init__(self, coordinator: Handle) -> None:
        self.coordinator = coordinator
        self.sent = 0
        self.revisions: list[int | None] = []  # the driver writes: none known here

    def start(self, experiment_id: str, lease: Lease | None = None, *, fresh: bool = False) -> None:
        del experiment_id, lease, fresh  # the driver writes, under its own lease

    def send(self, rows: Rows, cached: list[CachedResponse]) -> None:
        ray.get(self.coordinator.push.remote(rows, cached))
        self.sent += len(rows.results)

    def close(self) -> int:
        return self.sent

    def discard(self) -> None:
        return None


class ShardRunner(Runner):
    """The engine's runner over one shard's work (see the module doc)."""

    def __init__(
        self,
        spec: ShardSpec,
        store: Store | None,
        attempt: str,
    ) -> None:
        super().__init__(cast(Store, store), spec.target, spec.scorers, spec.options)
        self.spec = spec
        self.own_store = store  # None: the results go to the driver
        self.attempt = attempt
        if spec.rate_key is not None:
            block = min(spec.options.concurrency, 64)
            self.limiter = ClusterLimiter(spec.coordinator, spec.rate_key, block)
        self._cache = dict(spec.cache)
        self._reported_cost = 0.0

    def _writer_for(self) -> ResultWriter:
        spec, options = self.spec, self.options
        if self.own_store is not None:
            return ResultWriter(
                self.own_store,
                spec.experiment_id,
                batch_size=options.batch_size,
                flush_interval=options.flush_interval,
                on_written=self._on_written,
                lease=spec.lease,
            )
        sink = InboxSink(spec.coordinator)
        return ResultWriter(
            cast(Store, None),
            spec.experiment_id,
            batch_size=options.batch_size,
            flush_interval=options.flush_interval,
            child=cast(ChildWriter, sink),
        )

    async def run_shard(self, work: Sequence[WorkItem], spent: float) -> None:
        """Execute ``work`` under the coordinator's stop signal; results go to the writer."""
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._spent = spent
        self.progress = Progress(total=len(work))
        self._name, self._experiment_id = self.spec.name, self.spec.experiment_id
        self._items = iter(work)
        self._writer = writer = self._writer_for()
        self._pool = pool = (
            ThreadPoolExecutor(min(self.options.concurrency, 1000), "assay-target")
            if self.sync
            else None
        )
        finished = asyncio.Event()
        watch = asyncio.create_task(self._watch(finished))
        try:
            slots = min(self.options.concurrency, max(len(work), 1))
            self._slots = [asyncio.create_task(self._slot(pool)) for _ in range(slots)]
            outcomes = await asyncio.gather(*self._slots, return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, Exception) and self._fatal is None:
                    self._fatal = outcome
        finally:
            finished.set()
            await asyncio.shield(asyncio.gather(watch, return_exceptions=True))
            if pool is not None:
                pool.shutdown(wait=False, cancel_futures=True)
            try:
                await asyncio.to_thread(writer.close)
            except Exception as exc:
                self._fatal = self._fatal or exc
            if isinstance(self.limiter, ClusterLimiter):
                await self.limiter.close()
            await self._report()
            closer = getattr(self.target, "aclose", None)
            if closer is not None:
                await closer()

    def counts(self) -> dict[str, int]:
        p = self.progress
        return {key: int(getattr(p, key)) for key in COUNTS}

    async def _report(self) -> Stop:
        cost, self._reported_cost = self.progress.cost - self._reported_cost, self.progress.cost
        stop: Stop = await self.spec.coordinator.report.remote(
            self.spec.index, self.attempt, self.counts(), cost
        )
        return stop

    async def _watch(self, finished: asyncio.Event) -> None:
        """Report progress and obey the stop signal, every poll interval until the end."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(finished.wait(), self.options.poll_interval)
            if finished.is_set():
                return
            writer = self._writer
            if writer is not None and writer.error is not None and self._fatal is None:
                self._fatal = writer.error
                self._cancel(True, "storage failure")
            try:
                stop = await self._report()
            except ray.exceptions.RayError as exc:  # the coordinator is gone: the run is over
                self._fatal = self._fatal or exc
                self._cancel(True, "the run's coordinator stopped")
                return
            if stop.reason is not None:
                self._cancel(stop.force, stop.reason)


def execute(spec: ShardSpec) -> ShardOutcome:
    """Run one shard (the body of the Ray task); see the module doc."""
    attempt = uuid.uuid4().hex
    coordinator = spec.coordinator
    ids = [w.result_id for w in spec.work]
    db = Database(spec.db_url) if spec.db_url is not None else None
    try:
        if db is not None:
            retry = spec.options.retry_errors
            done = finished_ids(db, spec.experiment_id, ids, retry_errors=retry)
        else:
            done = set(ray.get(coordinator.known.remote(ids)))
        work = [w for w in spec.work if w.result_id not in done]
        node = ray.get_runtime_context().get_node_id()
        stop, spent = ray.get(
            coordinator.start.remote(spec.index, attempt, len(ids), len(done), node)
        )
        store = Store(db, spec.project_id) if db is not None else None
        runner = ShardRunner(spec, store, attempt)
        if stop.reason is None and work:
            asyncio.run(runner.run_shard(work, spent))
        fatal = runner._fatal
        coordinator.end.remote(spec.index, attempt)
        return ShardOutcome(
            spec.index,
            runner.counts(),
            runner.progress.cost,
            len(done),
            runner.stop_reason or stop.reason,
            runner.first_error,
            None if fatal is None else f"{type(fatal).__name__}: {fatal}",
        )
    finally:
        if db is not None:
            db.dispose()
