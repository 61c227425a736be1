"""The driver: runs one experiment as shards on a Ray cluster, in place of the local runner.

:class:`RayRunner` is a :class:`~assay.engine.runner.Runner` (same ``run``, ``cancel`` and
``progress``), so every surface that drives a runner drives it unchanged. The driver holds the
run: it writes the plan (the experiment row alone, no pending row per result), claims the
lease and keeps its heartbeat, polls the store for a cancel request, and writes the outcome. The
planned (item, repetition) results are split into shards, Ray tasks that Ray tries again when
their worker or node dies (see :mod:`assay.scaleout.shard`). The split is by position, from the
work's length: each shard is sent as soon as its part has been read, the next parts read while
it runs (see :mod:`assay.scaleout.parts`). Each result is written once, whole,
under its planned id, the checked way (a result already completed is left alone; see
:mod:`assay.store.unwritten`): on PostgreSQL by the shards themselves, on SQLite by this
process's single writer, which drains the coordinator's inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from assay.domain import Experiment, ExperimentStatus, WorkItem
from assay.engine.experiment import Prepared
from assay.engine.options import Progress, RunOptions
from assay.engine.runner import Runner, Work
from assay.errors import InvalidInput
from assay.scaleout.coordinator import CoordinatorRef, Hub
from assay.scaleout.parts import PartReader, part_sizes
from assay.scaleout.shard import ShardOutcome, ShardSpec, execute
from assay.scoring import Scorer
from assay.store import CachedResponse, Store
from assay.store.experiment_plans import PlannedRun
from assay.store.lease import FIRST_LEASE, Lease, LeaseLost
from assay.store.planning import worker_id
from assay.store.recording import Rows
from assay.store.writer_process import retry_storage
from assay.targets import Target

TASK_RETRIES = 5  # a shard whose worker or node died runs again, this many times at most
_TICK = 0.1  # seconds between the driver's looks at the cluster
_GRACE = 10.0  # after a stop, seconds a shard has to end before Ray cancels it
HEAD = "node:__internal_head__"  # the resource only the head node has


def _local_ips() -> set[str]:
    """This machine's addresses: loopback, its host name's, and the one Ray itself picks (the
    source address of the default route; connecting a UDP socket sends nothing)."""
    ips = {"127.0.0.1", "::1", "0.0.0.0"}
    with contextlib.suppress(OSError):
        ips.update(socket.gethostbyname_ex(socket.gethostname())[2])
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("8.8.8.8", 80))
        ips.add(s.getsockname()[0])
    return ips


def _endpoint(address: str) -> tuple[str, str]:
    """(host, port) of a cluster address, the host as an IP address where it resolves and
    ``local`` when it is this machine."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    with contextlib.suppress(OSError, UnicodeError):
        host = socket.gethostbyname(host)
    return ("local" if host.startswith("127.") or host in _local_ips() else host), port


_JOINED: list[str] = []  # the address this module joined Ray with, if it did


def connected_address() -> str:
    """The GCS address (``host:port``) of the cluster this process is connected to."""
    return str(ray.get_runtime_context().gcs_address)


def check_address(address: str | None) -> None:
    """Refuse ``address`` when this process is already connected to another Ray cluster: Ray
    holds one connection per process, and the runs in progress use it (``None`` and ``auto``
    accept whichever cluster it is)."""
    if address in (None, "auto") or not ray.is_initialized():
        return
    current = connected_address()
    known = {_endpoint(current)} | ({_endpoint(_JOINED[0])} if _JOINED else set())
    if _endpoint(address) not in known:
        raise InvalidInput(
            f"this process is already connected to the Ray cluster at {current}, not "
            f"{address}: use that address, or ray.shutdown() before a run elsewhere",
            field="ray_address",
        )


def connect(address: str | None, runtime_env: dict[str, Any] | None = None) -> None:
    """Join the Ray cluster at ``address`` (None: ``RAY_ADDRESS``, else a local Ray); a process
    already connected stays so, to the same cluster (see :func:`check_address`)."""
    if ray.is_initialized():
        check_address(address)
        return
    try:
        ray.init(
            address=address,
            runtime_env=runtime_env,
            log_to_driver=True,
            logging_level=logging.WARNING,
            configure_logging=True,
        )
        _JOINED[:] = [address] if address else []
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise InvalidInput(
            f"cannot reach the Ray cluster at {address or 'RAY_ADDRESS'}: {exc}",
            field="ray_address",
        ) from None


MIN_SHARD = 50  # results: a smaller shard costs more in start-up than it runs


def shard_count(work: int, cpus: float, shards: int | None) -> int:
    """Shards for ``work`` results: two per CPU of the cluster (a retried shard repeats little
    and the last ones finish together), but no shard smaller than :data:`MIN_SHARD` unless
    asked for, and never more than there are results."""
    if shards is None:
        shards = max(1, min(int(cpus) * 2, math.ceil(work / MIN_SHARD)))
    return max(1, min(work, shards))


def _merge(batches: list[tuple[Rows, list[Any]]]) -> tuple[Rows, list[Any]]:
    rows = Rows([], [], [], [])
    cached: list[Any] = []
    for r, c in batches:
        rows.results.extend(r.results)
        rows.scores.extend(r.scores)
        rows.traces.extend(r.traces)
        rows.observations.extend(r.observations)
        cached.extend(c)
    return rows, cached


class RayRunner(Runner):
    """Runs one experiment on a Ray cluster (see the module doc); ``shards`` overrides how many
    parts the work is split into, ``concurrency`` in the options is per shard."""

    def __init__(
        self,
        store: Store,
        target: Target,
        scorers: Sequence[Scorer] = (),
        options: RunOptions | None = None,
        *,
        address: str | None = None,
        shards: int | None = None,
        runtime_env: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(store, target, scorers, options)
        self.address = address
        self.shards = shards
        self.runtime_env = runtime_env
        self.coordinator: Any = None
        self.outcomes: list[ShardOutcome] = []
        self.attempts = 0  # shard attempts begun: more than the shards when Ray retried some
        self.running: dict[str, int] = {}  # shards running now, per Ray node id
        self._task: Any = None  # the shards' Ray remote function
        self._polled = self._beat = 0.0  # when the store was last polled, the lease renewed

    # ------------------------------------------------------------------ control
    def _cancel(self, force: bool, reason: str) -> None:
        super()._cancel(force, reason)
        if self.coordinator is not None:
            self.coordinator.stop.remote(self.stop_reason or reason, force or self._abort.is_set())

    # ------------------------------------------------------------------ run
    async def run(
        self,
        experiment_id: str,
        work: Work | None = None,
        *,
        planned: PlannedRun | None = None,
    ) -> Experiment:
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        experiments = self.store.experiments
        me = self.options.worker or worker_id()
        connect(self.address, self.runtime_env)  # in this thread: Ray's signal handlers
        hub = hub_for_this_process()  # starting (the first time) while the plan is written
        if planned is not None:
            experiment, work = planned.experiment, planned.work
            # The experiment row alone: the shards insert each result whole as it finishes.
            commit = functools.partial(planned.commit, worker=me, write_pending=False)
            await asyncio.to_thread(commit)
            self._lease = Lease(experiment.id, me, FIRST_LEASE)
        else:
            experiment, self._lease = await asyncio.to_thread(
                functools.partial(
                    experiments.claim_lease, experiment_id, me, stale_after=self.options.stale_after
                )
            )
            if work is None:
                _, work = await asyncio.to_thread(
                    functools.partial(
                        experiments.unfinished,
                        experiment.id,
                        retry_errors=self.options.retry_errors,
                    )
                )
        assert work is not None
        self._confirmed = self.options.clock()
        self._name, self._experiment_id = experiment.name, experiment.id
        self.progress = Progress(total=len(work))
        spent = 0.0
        if self.options.max_cost is not None and planned is None:
            spent = await asyncio.to_thread(experiments.spent, experiment.id)
        try:
            await self._execute_shards(hub, experiment, work, spent)
        except asyncio.CancelledError:
            self._cancel(True, "cancelled")
            await asyncio.shield(self._end_run(experiment.id, cancelled=True))
            raise
        await self._end_run(experiment.id, cancelled=False)
        if self._lost:
            raise LeaseLost(
                f"experiment {experiment.id}: another runner took it over; this one stopped",
                field="experiment",
            )
        from assay.analysis.service import store_frame  # NumPy: loaded when a run ends

        await asyncio.to_thread(store_frame, self.store, experiment.id)
        return experiments.get(experiment.id)

    def _limits(self) -> tuple[dict[str, tuple[int | None, int | None]], str | None]:
        rpm = self.options.rpm or getattr(self.target, "rpm", None)
        tpm = self.options.tpm or getattr(self.target, "tpm", None)
        if rpm is None and tpm is None:
            return {}, None
        key = getattr(self.target, "rate_key", None) or self.target.kind
        return {key: (rpm, tpm)}, key

    async def _execute_shards(
        self, hub: Any, experiment: Experiment, work: Work, spent: float
    ) -> None:
        limits, rate_key = self._limits()
        run = f"{experiment.id}:{uuid.uuid4().hex}"
        self._polled = self._beat = time.monotonic()
        try:
            await hub.open.remote(run, limits, self.options.max_cost, spent)
        except ray.exceptions.RayActorError:  # the hub died (its node was lost): a new one
            _HUB.clear()
            hub = hub_for_this_process()
            await hub.open.remote(run, limits, self.options.max_cost, spent)
        self.coordinator = CoordinatorRef(hub, run)
        if self._stopping:
            self.coordinator.stop.remote(self.stop_reason or "cancelled", self._abort.is_set())
        pg = not self.store.db.is_sqlite
        url = self.store.db.url.render_as_string(hide_password=False) if pg else None
        cpus = float(ray.cluster_resources().get("CPU", 1.0))  # type: ignore[no-untyped-call]
        sizes = part_sizes(len(work), shard_count(len(work), cpus, self.shards))
        self._task = ray.remote(max_retries=TASK_RETRIES, retry_exceptions=False)(execute)

        def spec(index: int, part: list[WorkItem], cache: dict[str, CachedResponse]) -> ShardSpec:
            return ShardSpec(
                index,
                experiment.id,
                experiment.name,
                self.store.project_id,
                self._lease if pg else None,
                part,
                self.target,
                self.scorers,
                self.options,
                self.coordinator,
                rate_key=rate_key,
                db_url=url,
                cache=cache,
            )

        refs = await self._submit_parts(experiment.id, work, sizes, spec)
        await self._follow(experiment.id, refs, writes=not pg)

    async def _submit_parts(
        self,
        experiment_id: str,
        work: Work,
        sizes: list[int],
        spec: Callable[[int, list[WorkItem], dict[str, CachedResponse]], ShardSpec],
    ) -> list[Any]:
        """Each part of ``work`` sent as a shard as soon as it is read, the next ones read
        while it runs; once the run stops (a cancel, a lost lease, a failed read) nothing
        more is sent, and the shards sent already are stopped through the coordinator."""
        reader = PartReader(work)
        refs: list[Any] = []
        try:
            for index, size in enumerate(sizes):
                part = await reader.read(size, lambda: self._stopping)
                await self._look(experiment_id, time.monotonic())
                if self._stopping or not part:
                    break
                refs.append(self._send(spec(index, part, await self._cached(part))))
        except Exception as exc:  # the shards sent already are followed and stopped
            self._fatal = self._fatal or exc
            self._cancel(True, "the shards could not all be sent")
        finally:
            await reader.close()
        return refs

    async def _cached(self, part: list[WorkItem]) -> dict[str, CachedResponse]:
        """The cached responses for ``part`` (with ``options.cache``), looked up off the loop."""
        if not self.options.cache:
            return {}

        def look() -> dict[str, CachedResponse]:
            keys = [self._cache_key(w) for w in part]
            found = self.store.cache.get_many(keys)
            return {k: v for k in keys if (v := found.get(k))}

        return await asyncio.to_thread(look)

    def _send(self, spec: ShardSpec) -> Any:
        """Submit one shard to the cluster; its Ray object ref."""
        return self._task.remote(spec)

    async def _look(self, experiment_id: str, now: float) -> None:
        """When due: poll the store for a cancel request, renew the lease (the heartbeat)."""
        if now - self._polled >= self.options.poll_interval:
            self._polled = now
            if await asyncio.to_thread(self.store.experiments.cancel_requested, experiment_id):
                self._cancel(True, "cancelled by request")
        if now - self._beat >= self.options.heartbeat_interval:
            self._beat = now
            if not await self._hold():
                self._lost = True

    async def _follow(self, experiment_id: str, refs: list[Any], *, writes: bool) -> None:
        """Until every shard has ended: write the inbox (SQLite), show progress, heartbeat,
        pass on a cancel request, collect the shards' outcomes."""
        pending = list(refs)
        stopped_at: float | None = None
        while pending:
            ready, pending = await asyncio.to_thread(
                ray.wait, pending, num_returns=len(pending), timeout=_TICK
            )
            for ref in ready:
                try:
                    self.outcomes.append(await ref)
                except ray.exceptions.RayError as exc:
                    self._fatal = self._fatal or exc
                    self._cancel(True, "a shard failed")
            if writes:
                await self._drain()
            snapshot = await self.coordinator.snapshot.remote()
            self._show(snapshot)
            if snapshot["stop"] is not None and not self._stopping:
                force = bool(snapshot["force"])
                super()._cancel(force, snapshot["stop"])
            now = time.monotonic()
            if self._stopping and stopped_at is None:
                stopped_at = now
            if stopped_at is not None and now - stopped_at > _GRACE:
                for ref in pending:
                    ray.cancel(ref, force=True)
            await self._look(experiment_id, now)
        if writes:
            await self._drain()
        self._show(await self.coordinator.snapshot.remote())
        for outcome in self.outcomes:
            if outcome.fatal and self._fatal is None:
                self._fatal = RuntimeError(outcome.fatal)
            if outcome.first_error and self.first_error is None:
                self.first_error = outcome.first_error
        self.coordinator.hub.close.remote(self.coordinator.run)

    def _show(self, snapshot: dict[str, Any]) -> None:
        p = self.progress
        p.done, p.completed, p.failed = snapshot["done"], snapshot["completed"], snapshot["failed"]
        p.cached, p.retries, p.cost = snapshot["cached"], snapshot["retries"], snapshot["cost"]
        self.attempts = snapshot["attempts"]
        self.running = dict(snapshot["running"])

    async def _drain(self) -> None:
        """Write what the shards sent (SQLite): one transaction per drain, fenced by the lease."""
        batches = await self.coordinator.take.remote()
        if not batches or self._lost:
            return
        rows, cached = _merge(batches)
        store, lease = self.store, self._lease

        def write() -> None:
            store.experiments.record_rows(self._experiment_id, rows, lease=lease)
            if cached:
                store.cache.put_many(cached)

        try:
            await asyncio.to_thread(retry_storage, write, 5)
        except LeaseLost:
            self._lose()
            return
        except Exception as exc:
            self._fatal = self._fatal or exc
            self._cancel(True, "storage failure")
            return
        self.progress.written += len(rows.results)

    async def _end_run(self, experiment_id: str, *, cancelled: bool) -> None:
        """The run's outcome, written unless the lease was lost."""
        experiments, lease = self.store.experiments, self._lease
        if self._lost:
            return
        with contextlib.suppress(LeaseLost):
            if cancelled:
                status: ExperimentStatus = ExperimentStatus.cancelled
                error: str | None = "cancelled"
            else:
                status, error = self._outcome()
            await asyncio.to_thread(
                functools.partial(experiments.finish, experiment_id, status, error, lease=lease)
            )
            return
        self._lost = True


# This process's hub, per Ray job and the node this process joined: a job id alone repeats
# when the process joins another cluster (or the same one restarted), where the old hub is gone.
_HUB: dict[tuple[str, str], Any] = {}


def hub_for_this_process() -> Any:
    """The :class:`~assay.scaleout.coordinator.Hub` actor of this driver process (created on
    first use, then kept: every run reuses it). It lives on the head node (which the cluster
    cannot lose and go on), else on the driver's node, and ends with this process."""
    context = ray.get_runtime_context()
    job = (context.get_job_id(), context.get_node_id())
    hub = _HUB.get(job)
    if hub is None:
        actor = ray.remote(num_cpus=0, max_restarts=0)(Hub)
        resources = ray.cluster_resources()  # type: ignore[no-untyped-call]
        if HEAD in resources:
            options: dict[str, Any] = {"resources": {HEAD: 0.001}}
        else:
            here = context.get_node_id()
            options = {"scheduling_strategy": NodeAffinitySchedulingStrategy(here, soft=True)}
        hub = actor.options(**options).remote()
        _HUB.clear()
        _HUB[job] = hub
    return hub


def on_ray(
    prepared: Prepared,
    *,
    address: str | None = None,
    shards: int | None = None,
    runtime_env: dict[str, Any] | None = None,
) -> Prepared:
    """``prepared`` to run on a Ray cluster instead of in this process."""
    local = prepared.runner
    local.discard()
    prepared.runner = RayRunner(
        local.store,
        local.target,
        local.scorers,
        local.options,
        address=address,
        shards=shards,
        runtime_env=runtime_env,
    )
    return prepared
