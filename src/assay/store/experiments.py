"""Experiments, their results and scores.

An experiment pins a dataset version. Planning it writes the experiment row in one transaction
(:mod:`assay.store.experiment_plans`), with one pending result row per (item, repetition) for
runs whose outputs are uploaded or that a Ray driver plans; the engine then records finished
results in batches, each result together with its scores (inserted whole when it has no row
yet, see :mod:`assay.store.unwritten`), and never over a result that is already completed.
Reading results is :mod:`assay.store.experiment_results`.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Row,
    and_,
    case,
    cast,
    delete,
    func,
    or_,
    select,
    update,
)

from assay.domain import (
    EXPERIMENT_SORT_FIELDS,
    Experiment,
    ExperimentSort,
    ExperimentStatus,
    Page,
    ResultStatus,
    WorkItem,
)
from assay.errors import Conflict, InvalidInput
from assay.store import keyset
from assay.store.active_time import active_periods, close_period
from assay.store.audit import record
from assay.store.experiment_plans import ExperimentPlans
from assay.store.experiment_results import ExperimentResults
from assay.store.experiment_rows import ACTIVE, check_limit
from assay.store.item_rows import alive_at
from assay.store.lease import Lease, fence
from assay.store.planning import worker_alive
from assay.store.recording import (
    Completion,
    Rows,
    completion_rows,
    delete_traces,
    write_rows,
)
from assay.store.run_frames import touch
from assay.store.sql import text_contains
from assay.store.tables import dataset_items, datasets, experiments, results, scores, traces
from assay.store.types import utcnow
from assay.store.unwritten import UnwrittenWork, unwritten_work, write_unwritten

_UNFINISHED = (ResultStatus.pending.value, ResultStatus.running.value, ResultStatus.cancelled.value)


#: Where runs without a value sort: after every real value, ascending or descending.
_NO_VALUE_LAST = {False: 1e300, True: -1.0}


def _sort_key(field: str, descending: bool) -> ColumnElement[Any]:
    """The value runs are ordered by: a column, or an aggregate of their results."""
    if field in ("created_at", "name", "status"):
        return experiments.c[field]
    if field == "dataset":  # by name; a run without a dataset (its prefix) comes last
        name = select(datasets.c.name).where(datasets.c.id == experiments.c.dataset_id)
        found_name = name.scalar_subquery()
        present, missing = ("1", "0") if descending else ("0", "1")
        return case((found_name.is_(None), missing), else_=present + found_name)
    mine = results.c.experiment_id == experiments.c.id
    value: ColumnElement[Any]
    if field == "pass_rate":
        passed = func.sum(case((results.c.passed.is_(True), 1), else_=0))
        value = cast(passed, Float) / func.nullif(func.count(results.c.passed), 0)
    elif field == "cost":
        value = func.avg(results.c.cost)
    else:  # latency: of the completed results, as the runs tables show it
        mine = and_(mine, results.c.status == ResultStatus.completed.value)
        value = func.avg(results.c.latency_ms)
    found = select(value).where(mine).scalar_subquery()
    return func.coalesce(found, _NO_VALUE_LAST[descending])


def _cursor_value(field: str, value: Any) -> Any:
    """The sort value a cursor carries, checked against the field's type."""
    if field == "created_at":
        try:
            return datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise InvalidInput("malformed pagination cursor", field="cursor") from None
    kinds: tuple[type, ...] = (str,) if field in ("name", "status", "dataset") else (int, float)
    if not isinstance(value, kinds) or isinstance(value, bool):
        raise InvalidInput("malformed pagination cursor", field="cursor")
    return value


class Experiments(ExperimentPlans, ExperimentResults):
    """Experiment, result and score operations within one project."""

    # ------------------------------------------------------------------ reads
    def list(
        self,
        *,
        dataset: str | None = None,
        status: ExperimentStatus | None = None,
        search: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        sort: ExperimentSort = "-created_at",
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Experiment]:
        """Experiments, newest first unless ``sort`` names another order (a field, ``-`` first
        for descending; runs without a value for it come last either way); ``search``
        matches the name or the run tag."""
        limit = check_limit(limit)
        field = sort.lstrip("-")
        if field not in EXPERIMENT_SORT_FIELDS:
            allowed = ", ".join(EXPERIMENT_SORT_FIELDS)
            raise InvalidInput(f"sort: {sort!r} is not one of {allowed}", field="sort")
        descending = sort.startswith("-")
        key = _sort_key(field, descending)
        query = select(experiments, key.label("sort_key")).where(
            experiments.c.project_id == self.project_id
        )
        if dataset is not None:
            query = query.where(experiments.c.dataset_id == self._datasets.get(dataset).id)
        if status is ExperimentStatus.interrupted:
            # Interrupted is read, not stored: the active runs are filtered below, page by page
            # (a page may then hold fewer than ``limit`` runs; follow ``next_cursor``).
            query = query.where(experiments.c.status.in_(ACTIVE))
        elif status is not None:
            query = query.where(experiments.c.status == status.value)
        if search:
            query = query.where(
                or_(
                    text_contains(experiments.c.name, search),
                    text_contains(experiments.c.run_tag, search),
                )
            )
        if created_after is not None:
            query = query.where(experiments.c.created_at >= created_after)
        if created_before is not None:
            query = query.where(experiments.c.created_at < created_before)
        after = None
        if cursor:
            backwards, (value, last_id) = keyset.decode(cursor, 2)
            after = (backwards, [_cursor_value(field, value), last_id])
        with self.db.read() as conn:
            rows, more, earlier = keyset.read(
                conn, query, [key, experiments.c.id], descending, limit, after
            )
        items = [self._open(r) for r in rows]

        def values(row: Row[Any] | None) -> list[Any] | None:
            if row is None:
                return None
            raw = row.sort_key
            return [raw.isoformat() if isinstance(raw, datetime) else raw, row.id]

        prev_cursor, next_cursor = keyset.cursors(
            values(rows[0] if rows else None), values(rows[-1] if rows else None), earlier, more
        )
        if status is not None:
            items = [e for e in items if e.status is status]
        return Page[Experiment](items=items, next_cursor=next_cursor, prev_cursor=prev_cursor)

    # ------------------------------------------------------------------ running
    def claim(self, ref: str, worker: str, *, stale_after: float = 30.0) -> Experiment:
        """Mark the experiment running in ``worker``; refuse if a live runner holds it."""
        return self.claim_lease(ref, worker, stale_after=stale_after)[0]

    def claim_lease(
        self, ref: str, worker: str, *, stale_after: float = 30.0
    ) -> tuple[Experiment, Lease]:
        """:meth:`claim`, with the lease (a new token) the claim gives ``worker``."""
        with self.db.write() as conn:
            row = self._row(conn, ref)
            if (
                row.status in (ExperimentStatus.running.value, ExperimentStatus.scoring.value)
                and row.worker_id != worker
                and worker_alive(row.worker_id, row.heartbeat_at, stale_after)
            ):
                raise Conflict(
                    f"experiment {row.id} is running in another process ({row.worker_id})",
                    field="experiment",
                )
            # A run still missing rows keeps them missing: its runner derives what is left
            # from the plan (``unfinished``) and inserts each result as it finishes.
            now = utcnow()
            done, current = active_periods(row)
            if row.status not in (ExperimentStatus.running.value, ExperimentStatus.scoring.value):
                current = now  # resumed: a new active period starts
            elif row.worker_id is not None and row.worker_id != worker:
                # taken over from a dead process: its period ended at its last heartbeat
                done = close_period(row, row.heartbeat_at or now)
                current = now
            conn.execute(
                update(experiments)
                .where(experiments.c.id == row.id)
                .values(
                    status=ExperimentStatus.running.value,
                    worker_id=worker,
                    heartbeat_at=now,
                    cancel_requested=False,
                    error=None,
                    started_at=row.started_at or now,
                    finished_at=None,
                    active_s=done,
                    resumed_at=current or now,
                    lease=experiments.c.lease + 1,
                )
            )
            claimed = self._row(conn, row.id)
            return self._open(claimed), Lease(row.id, worker, int(claimed.lease))

    def heartbeat(self, experiment_id: str, worker: str, lease: Lease | None = None) -> bool:
        """Say ``worker`` is alive; with ``lease``, False when the lease is lost (stop now)."""
        c = experiments.c
        holder = [c.id == experiment_id, c.worker_id == worker]
        if lease is not None:
            holder.append(c.lease == lease.token)
        with self.db.write() as conn:
            beat = conn.execute(
                update(experiments).where(*holder).values(heartbeat_at=utcnow())
            ).rowcount
        return lease is None or beat == 1

    def cancel_requested(self, experiment_id: str) -> bool:
        with self.db.read() as conn:
            flag = conn.execute(
                select(experiments.c.cancel_requested).where(experiments.c.id == experiment_id)
            ).scalar_one_or_none()
        return bool(flag)

    def set_status(
        self, experiment_id: str, status: ExperimentStatus, *, lease: Lease | None = None
    ) -> None:
        with self.db.write() as conn:
            if lease is not None:
                fence(conn, lease)
            conn.execute(
                update(experiments)
                .where(experiments.c.id == experiment_id)
                .values(status=status.value)
            )

    def request_cancel(self, ref: str, *, stale_after: float = 30.0) -> Experiment:
        """Ask the runner to stop; a run nobody is executing is cancelled on the spot."""
        with self.db.write() as conn:
            row = self._row(conn, ref)
            status = ExperimentStatus(row.status)
            if status.finished:
                raise Conflict(f"experiment {row.id} is already {status.value}", field="experiment")
            alive = worker_alive(row.worker_id, row.heartbeat_at, stale_after)
            if status == ExperimentStatus.pending or not alive:
                # a dead runner's active period ended at its last heartbeat
                end = row.heartbeat_at if row.worker_id is not None else None
                self._finish(conn, row.id, ExperimentStatus.cancelled, "cancelled", end=end)
            else:
                conn.execute(
                    update(experiments)
                    .where(experiments.c.id == row.id)
                    .values(cancel_requested=True)
                )
            return self._open(self._row(conn, row.id))

    def finish(
        self,
        experiment_id: str,
        status: ExperimentStatus,
        error: str | None,
        *,
        lease: Lease | None = None,
        metadata: dict[str, Any] | None = None,
        written: int = 0,
    ) -> None:
        """End a run: unfinished results become cancelled, the status and error are set, and
        the keys of ``metadata`` (what the run learned, e.g. why it stopped) are merged into
        its metadata, in the same transaction.

        With ``lease``, only while the lease is held (else :class:`LeaseLost`, nothing written).
        ``written``: how many of its planned results the caller knows to have rows (its own
        writer's count), so a run written whole is not counted again.
        """
        with self.db.write() as conn:
            if lease is not None:
                fence(conn, lease)
            self._finish(conn, experiment_id, status, error, written=written)
            if metadata:
                current = conn.execute(
                    select(experiments.c.metadata).where(experiments.c.id == experiment_id)
                ).scalar_one()
                conn.execute(
                    update(experiments)
                    .where(experiments.c.id == experiment_id)
                    .values(metadata={**(current or {}), **metadata})
                )

    def _finish(
        self,
        conn: Connection,
        experiment_id: str,
        status: ExperimentStatus,
        error: str | None,
        *,
        end: datetime | None = None,
        written: int = 0,
    ) -> None:
        """End the run; its active period (if one is open) ends at ``end`` (default: now).
        Its planned results that did not finish are cancelled: those still pending, and those
        never written (see :mod:`assay.store.unwritten`; ``written`` as in :meth:`finish`)."""
        now = utcnow()
        row = conn.execute(select(experiments).where(experiments.c.id == experiment_id)).one()
        active = close_period(row, end or now)
        write_unwritten(
            self.db, conn, self._bulk, row, ResultStatus.cancelled.value, present=written
        )
        touch(conn, [experiment_id])
        conn.execute(
            update(results)
            .where(
                results.c.experiment_id == experiment_id,
                results.c.status.in_([ResultStatus.pending.value, ResultStatus.running.value]),
            )
            .values(status=ResultStatus.cancelled.value)
        )
        conn.execute(
            update(experiments)
            .where(experiments.c.id == experiment_id)
            .values(
                status=status.value,
                error=error,
                finished_at=now,
                cancel_requested=False,
                worker_id=None,
                active_s=active,
                resumed_at=None,
            )
        )

    def unfinished(
        self, ref: str, *, retry_errors: bool = False
    ) -> tuple[Experiment, builtins.list[WorkItem] | UnwrittenWork]:
        """The results a resumed run must execute, with their item's context and metadata.

        Of a run still missing rows (see :mod:`assay.store.unwritten`) they are derived from
        the plan, page by page as the run takes them: every planned result without a row, and
        those whose row is unfinished."""
        statuses = list(_UNFINISHED) + ([ResultStatus.failed.value] if retry_errors else [])
        with self.db.read() as conn:
            row = self._row(conn, ref)
            if row.unwritten_base is not None and row.dataset_id is not None:
                return self._open(row), unwritten_work(self.db, conn, row, statuses)
            query = (
                select(
                    results.c.id,
                    results.c.item_id,
                    results.c.repetition,
                    results.c.input,
                    results.c.expected_output,
                    dataset_items.c.context,
                    dataset_items.c.metadata,
                    dataset_items.c.tags,
                )
                .select_from(
                    # Each result's item through the id index: the dataset and the version are
                    # named through expressions no index serves, else SQLite without statistics
                    # may read every item of the dataset for each result.
                    results.outerjoin(
                        dataset_items,
                        and_(
                            dataset_items.c.id == results.c.item_id,
                            dataset_items.c.dataset_id.concat("") == row.dataset_id,
                            alive_at(row.dataset_version, indexed=False),
                        ),
                    )
                )
                .where(results.c.experiment_id == row.id, results.c.status.in_(statuses))
                .order_by(results.c.id)
            )
            work = [
                WorkItem(r[0], r[1], r[2], r[3], r[4], r[5], r[6] or {}, r[7] or [])
                for r in conn.execute(query)
            ]
            return self._open(row), work

    def record(
        self,
        experiment_id: str,
        batch: Sequence[Completion],
        *,
        lease: Lease | None = None,
        fresh: bool = False,
    ) -> int:
        """Write finished results and their scores in one transaction; returns rows written.

        A result that is already completed is left alone, and so are the scores sent with it:
        there is never a second completion for one (experiment, item, repetition).
        """
        rows = completion_rows(batch)
        return self.record_rows(experiment_id, rows, lease=lease, fresh=fresh)[0]

    def record_rows(
        self, experiment_id: str, rows: Rows, *, lease: Lease | None = None, fresh: bool = False
    ) -> tuple[int, int | None]:
        """:meth:`record` for rows already flattened by :func:`completion_rows`; also returns
        the run's data revision after a ``fresh`` batch inserted as it is (see
        :func:`~assay.store.recording.write_rows`).

        With ``lease``, the rows are written only while it is held (else :class:`LeaseLost`).
        ``fresh``: the run was planned by the runner holding ``lease``.
        """
        return write_rows(
            self.db, self._bulk, self.project_id, experiment_id, rows, lease=lease, fresh=fresh
        )

    def delete(self, ref: str) -> None:
        """Delete an experiment with its results, scores and the traces its runs recorded
        (traces linked to uploaded results belong to the application and stay)."""
        with self.db.write() as conn:
            row = self._row(conn, ref)
            own = conn.execute(
                select(traces.c.id).where(
                    traces.c.project_id == self.project_id,
                    traces.c.session_id == row.id,
                    traces.c.id.in_(
                        select(results.c.trace_id).where(results.c.experiment_id == row.id)
                    ),
                )
            ).scalars()
            delete_traces(conn, self.project_id, list(own))
            conn.execute(delete(scores).where(scores.c.experiment_id == row.id))
            conn.execute(delete(results).where(results.c.experiment_id == row.id))
            conn.execute(delete(experiments).where(experiments.c.id == row.id))
            record(
                conn,
                self.project_id,
                self.actor,
                "experiment.delete",
                "experiment",
                row.id,
                name=row.name,
            )
