"""Experiments, their results and scores.

An experiment pins a dataset version. Planning it writes the experiment row and one result row
per (item, repetition) in one transaction; the engine then records finished results in batches,
each result together with its scores, and never over a result that is already completed.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
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
    CLI_ACTOR,
    EXPERIMENT_SORT_FIELDS,
    Experiment,
    ExperimentCreate,
    ExperimentSort,
    ExperimentStatus,
    ExperimentSummary,
    Page,
    Result,
    ResultsPage,
    ResultStatus,
    WorkItem,
)
from assay.domain.result_table import ResultTable
from assay.errors import Conflict, InvalidInput, NotFound
from assay.ids import new_id
from assay.store import keyset
from assay.store.active_time import active_periods, close_period
from assay.store.audit import record
from assay.store.datasets import Datasets
from assay.store.db import Database
from assay.store.item_rows import alive_at
from assay.store.lease import FIRST_LEASE, Lease, fence
from assay.store.plan_stream import StreamedWork
from assay.store.planning import (
    PlannedItem,
    count_items,
    id_base,
    load_items,
    select_items,
    sequential_ids,
    worker_alive,
)
from assay.store.recording import Completion, Rows, completion_rows, delete_traces, write_rows
from assay.store.result_pages import count, for_items, for_runs, page, records
from assay.store.result_table import table_page
from assay.store.run_bulk import Bulk
from assay.store.run_frames import touch
from assay.store.sealing import has_sealed
from assay.store.sql import text_contains
from assay.store.summary import summarize
from assay.store.tables import dataset_items, datasets, experiments, results, scores, traces
from assay.store.types import utcnow

_MAX_LIMIT = 1000
_UNFINISHED = (ResultStatus.pending.value, ResultStatus.running.value, ResultStatus.cancelled.value)


#: A run not heard from for this long (and not provably alive on this host) reads interrupted.
STALE_AFTER = 30.0
_ACTIVE = (ExperimentStatus.running.value, ExperimentStatus.scoring.value)


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


def _experiment(row: Row[Any]) -> Experiment:
    m = dict(row._mapping)
    m.pop("sort_key", None)
    m.pop("cancel_requested", None)
    worker = m.pop("worker_id", None)
    heartbeat = m.pop("heartbeat_at", None)
    m.pop("data_revision", None)
    m.pop("active_s", None)
    m.pop("resumed_at", None)
    m.pop("lease", None)
    m["status"] = ExperimentStatus(m["status"])
    if interrupted(m["status"].value, worker, heartbeat):
        m["status"] = ExperimentStatus.interrupted
    return Experiment.model_construct(**m)


def interrupted(status: str, worker: str | None, heartbeat_at: datetime | None) -> bool:
    """A run marked running by a process that is gone: its process on this host is dead, or
    it has not sent a heartbeat for :data:`STALE_AFTER` seconds. A started run no worker has
    taken yet (no worker id: queued for ``assay worker``) is not interrupted."""
    return (
        status in _ACTIVE
        and worker is not None
        and not worker_alive(worker, heartbeat_at, STALE_AFTER)
    )


@dataclass
class PlannedRun:
    """An experiment and its result rows, validated and built, not yet written.

    ``commit()`` writes the experiment row and every result row in one transaction. A runner
    may commit from its writer thread while it starts executing the items (the writer commits
    the plan before any result), so planning and execution overlap.
    """

    _owner: Experiments
    experiment: Experiment
    work: builtins.list[WorkItem] | StreamedWork
    _values: dict[str, Any]
    _rows: builtins.list[tuple[Any, ...]] | None  # None: streamed (``work.rows()``)

    def commit(self, *, worker: str | None = None) -> None:
        if isinstance(self.work, StreamedWork):
            pages: Iterable[Sequence[tuple[Any, ...]]] = self.work.rows()
        else:
            rows = self._rows or []
            pages = (rows[k : k + 10_000] for k in range(0, len(rows), 10_000))
        self._owner._commit_plan(self._values, pages, worker)


class Experiments:
    """Experiment, result and score operations within one project."""

    def __init__(self, db: Database, project_id: str, actor: str = CLI_ACTOR) -> None:
        self.db = db
        self.project_id = project_id
        self.actor = actor  # who the audit log records for deletes
        self._datasets = Datasets(db, project_id)
        self._bulk = Bulk(db.dialect)

    def _open(self, row: Row[Any]) -> Experiment:
        """The record of a row, its sealed secrets opened (for the runner that needs them)."""
        experiment = _experiment(row)
        if not (has_sealed(experiment.config) or has_sealed(experiment.scorers)):
            return experiment
        keyring = self.db.keyring
        return experiment.model_copy(
            update={
                "config": keyring.unseal_tree(experiment.config),
                "scorers": keyring.unseal_tree(experiment.scorers),
            }
        )

    # ------------------------------------------------------------------ planning
    def create(
        self, data: ExperimentCreate, *, config_hash: str | None = None, external: bool = False
    ) -> tuple[Experiment, builtins.list[WorkItem]]:
        """Pin the dataset version, select items and plan every result row, all or nothing.

        ``external``: nothing runs it; its planned results await uploaded outputs.
        """
        planned = self.prepare(data, config_hash=config_hash, external=external)
        planned.commit()
        assert isinstance(planned.work, list)  # not streamed
        return planned.experiment, planned.work

    def prepare(
        self,
        data: ExperimentCreate,
        *,
        config_hash: str | None = None,
        external: bool = False,
        stream: bool = False,
    ) -> PlannedRun:
        """Everything :meth:`create` does except the write: ``commit()`` it (once) later.

        With ``stream`` and no item selection, the plan's work is read from the store page by
        page (by the commit and by the runner) instead of being held as a list."""
        dataset = self._datasets.get(data.dataset)
        version = dataset.version if data.dataset_version is None else data.dataset_version
        if not 0 <= version <= dataset.version:
            raise InvalidInput(
                f"dataset {dataset.name!r} has no version {version} (current is {dataset.version})",
                field="dataset_version",
            )
        streamed = stream and data.selection is None
        with self.db.read() as conn:
            if streamed:
                live = count_items(conn, dataset.id, version)
                items: builtins.list[PlannedItem] = []
            else:
                items = select_items(load_items(conn, dataset.id, version), data.selection)
                live = len(items)
        if not live:
            raise InvalidInput(
                f"nothing to run: dataset {dataset.name!r} version {version} has no items"
                + (" matching the selection" if data.selection else ""),
                field="selection" if data.selection else "dataset",
            )
        now = utcnow()
        values: dict[str, Any] = {
            "id": new_id(),
            "project_id": self.project_id,
            "dataset_id": dataset.id,
            "dataset_version": version,
            "name": data.name,
            "description": data.description,
            "config": data.config,
            "config_hash": config_hash,
            "selection": data.selection.model_dump(exclude_none=True) if data.selection else None,
            "evaluator_ids": data.evaluator_ids,
            "scorers": data.scorers,
            "concurrency": data.concurrency,
            "trials": data.trials,
            "run_tag": data.run_tag,
            "tags": data.tags,
            "metadata": data.metadata,
            "notes": None,
            "external": external,
            "status": ExperimentStatus.pending.value,
            "error": None,
            "cancel_requested": False,
            "created_at": now,
            "started_at": None,
            "finished_at": None,
        }
        experiment_id = values["id"]
        record = {k: v for k, v in values.items() if k != "cancel_requested"}
        record["status"] = ExperimentStatus.pending
        keyring = self.db.keyring  # secrets in the config are stored sealed
        values["config"] = keyring.seal_tree(data.config)
        values["scorers"] = keyring.seal_tree(data.scorers)
        experiment = Experiment.model_construct(**record)
        if streamed:
            base = id_base()
            work = StreamedWork(
                self.db, dataset.id, version, experiment_id, data.trials, base, live
            )
            return PlannedRun(self, experiment, work, values, None)
        ids = sequential_ids(len(items) * data.trials)
        listed: list[WorkItem] = []
        rows: list[tuple[Any, ...]] = []
        n = 0
        pending = ResultStatus.pending.value
        for item in items:
            for rep in range(data.trials):
                rid = ids[n]
                n += 1
                listed.append(
                    WorkItem(
                        rid,
                        item.id,
                        rep,
                        item.input,
                        item.expected_output,
                        item.context,
                        item.metadata,
                        item.tags,
                    )
                )
                rows.append(
                    (
                        rid,
                        experiment_id,
                        item.id,
                        rep,
                        pending,
                        item.input,
                        item.expected_output,
                        item.raw,
                    )
                )
        return PlannedRun(self, experiment, listed, values, rows)

    def _commit_plan(
        self,
        values: dict[str, Any],
        pages: Iterable[Sequence[tuple[Any, ...]]],
        worker: str | None,
    ) -> None:
        if worker is not None:  # planned by the runner that executes it: born running
            now = utcnow()
            values = {
                **values,
                "status": ExperimentStatus.running.value,
                "worker_id": worker,
                "heartbeat_at": now,
                "started_at": now,
                "active_s": 0.0,
                "resumed_at": now,
                "lease": FIRST_LEASE,
            }
        with self.db.write() as conn:
            conn.execute(experiments.insert().values(values))
            for rows in pages:
                self._bulk.insert_results(conn, rows)

    # ------------------------------------------------------------------ reads
    def get(self, ref: str) -> Experiment:
        """An experiment by id, or the newest one with that name."""
        with self.db.read() as conn:
            return self._open(self._row(conn, ref))

    def _row(self, conn: Connection, ref: str) -> Row[Any]:
        query = (
            select(experiments)
            .where(
                experiments.c.project_id == self.project_id,
                or_(experiments.c.id == ref, experiments.c.name == ref),
            )
            .order_by(experiments.c.created_at.desc())
            .limit(1)
        )
        row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"experiment {ref!r} not found", field="experiment")
        return row

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
        limit = _check_limit(limit)
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
            query = query.where(experiments.c.status.in_(_ACTIVE))
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

    def counts(self, experiment_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """Result counts by status for several experiments at once."""
        out: dict[str, dict[str, int]] = {i: {} for i in experiment_ids}
        if not experiment_ids:
            return out
        query = (
            select(results.c.experiment_id, results.c.status, func.count())
            .where(results.c.experiment_id.in_(list(experiment_ids)))
            .group_by(results.c.experiment_id, results.c.status)
        )
        with self.db.read() as conn:
            for exp_id, status, count in conn.execute(query):
                out[exp_id][status] = count
        return out

    def overview(self, experiment_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Per experiment, for run tables: result count, avg latency (ms), avg cost, pass rate,
        and the average judge cost per result when LLM judges cost something."""
        out: dict[str, dict[str, Any]] = {}
        if not experiment_ids:
            return out
        completed = results.c.status == ResultStatus.completed.value
        query = (
            select(
                results.c.experiment_id,
                func.count(),
                func.avg(case((completed, results.c.latency_ms))),
                func.avg(results.c.cost),
                func.sum(case((results.c.passed.is_(True), 1), else_=0)),
                func.count(results.c.passed),
            )
            .where(results.c.experiment_id.in_(list(experiment_ids)))
            .group_by(results.c.experiment_id)
        )
        with self.db.read() as conn:
            for exp_id, count, latency, cost, passed, judged in conn.execute(query):
                out[exp_id] = {
                    "items": count,
                    "avg_latency_ms": None if latency is None else float(latency),
                    "avg_cost": None if cost is None else float(cost),
                    "pass_rate": int(passed or 0) / judged if judged else None,
                }
            judge = select(
                scores.c.experiment_id,
                func.sum(scores.c.cost),
                func.count(scores.c.result_id.distinct()),
            ).where(scores.c.experiment_id.in_(list(experiment_ids)), scores.c.cost.is_not(None))
            for exp_id, spent, scored in conn.execute(judge.group_by(scores.c.experiment_id)):
                if exp_id in out and scored:
                    out[exp_id]["avg_judge_cost"] = float(spent) / out[exp_id]["items"]
        return out

    def scorer_errors(self, experiment_ids: Sequence[str]) -> dict[str, int]:
        """Per experiment, the scores a scorer could not produce (no value: it raised)."""
        out = dict.fromkeys(experiment_ids, 0)
        if not experiment_ids:
            return out
        query = (
            select(scores.c.experiment_id, func.count())
            .where(
                scores.c.experiment_id.in_(list(experiment_ids)),
                scores.c.numeric_value.is_(None),
                scores.c.string_value.is_(None),
            )
            .group_by(scores.c.experiment_id)
        )
        with self.db.read() as conn:
            for exp_id, count in conn.execute(query):
                out[exp_id] = int(count)
        return out

    def summary(self, ref: str) -> ExperimentSummary:
        with self.db.read() as conn:
            row = self._row(conn, ref)
            return summarize(conn, row)

    def spent(self, experiment_id: str) -> float:
        """Total cost recorded so far, target and judge calls (for cost budgets across
        resumes)."""
        with self.db.read() as conn:
            total = conn.execute(
                select(func.coalesce(func.sum(results.c.cost), 0.0)).where(
                    results.c.experiment_id == experiment_id
                )
            ).scalar_one()
            judged = conn.execute(
                select(func.coalesce(func.sum(scores.c.cost), 0.0)).where(
                    scores.c.experiment_id == experiment_id
                )
            ).scalar_one()
        return float(total) + float(judged)

    # ------------------------------------------------------------------ results
    def results(
        self,
        ref: str,
        *,
        status: ResultStatus | None = None,
        passed: bool | None = None,
        limit: int = 100,
        cursor: str | None = None,
        summary: bool = True,
    ) -> ResultsPage:
        """One page of results (plan order) with their scores; the first page also counts the
        matching results. ``summary=False`` leaves out the summary, which scans every result,
        so a cursor page of a large run stays cheap."""
        limit = _check_limit(limit)
        with self.db.read() as conn:
            row = self._row(conn, ref)
            dataset_name = None
            if row.dataset_id is not None:
                dataset_name = conn.execute(
                    select(datasets.c.name).where(datasets.c.id == row.dataset_id)
                ).scalar_one_or_none()
            rows, next_cursor = page(conn, row.id, status, passed, limit, cursor)
            return ResultsPage(
                experiment_id=row.id,
                experiment_name=row.name,
                dataset_name=dataset_name,
                status=_experiment(row).status,
                summary=summarize(conn, row) if summary else None,
                results=rows,
                next_cursor=next_cursor,
                total=None if cursor else count(conn, row.id, status, passed),
            )

    def result_table(
        self,
        ref: str,
        *,
        status: ResultStatus | None = None,
        passed: bool | None = None,
        sort: str = "position",
        search: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> ResultTable:
        """A page of results in ``sort`` order (position, latency, cost, tokens, status or
        ``score:NAME``; ``-`` first for descending), optionally only those whose input,
        expected output or output contains ``search``; cursors go both ways."""
        limit = _check_limit(limit)
        with self.db.read() as conn:
            experiment_id = self._row(conn, ref).id
            return table_page(
                conn,
                experiment_id,
                status=status,
                passed=passed,
                sort=sort,
                search=search,
                limit=limit,
                cursor=cursor,
            )

    def result(self, ref: str, result_id: str) -> Result:
        """One result of the experiment with its scores."""
        with self.db.read() as conn:
            experiment_id = self._row(conn, ref).id
            row = conn.execute(
                select(results).where(
                    results.c.id == result_id, results.c.experiment_id == experiment_id
                )
            ).first()
            if row is None:
                raise NotFound(f"result {result_id!r} not found in this run", field="result")
            return records(conn, [row])[0]

    def results_for_items(self, ref: str, item_ids: Sequence[str]) -> builtins.list[Result]:
        """The results (every repetition) of some dataset items, with their scores."""
        with self.db.read() as conn:
            return for_items(conn, self._row(conn, ref).id, item_ids)

    def item_history(
        self, dataset: str, item_id: str, *, limit: int = 50
    ) -> builtins.list[tuple[Experiment, Result]]:
        """How one dataset item fared in the dataset's newest ``limit`` runs (every trial)."""
        limit = _check_limit(limit)
        dataset_id = self._datasets.get(dataset).id
        with self.db.read() as conn:
            runs = {
                row.id: self._open(row)
                for row in conn.execute(
                    select(experiments)
                    .where(
                        experiments.c.project_id == self.project_id,
                        experiments.c.dataset_id == dataset_id,
                    )
                    .order_by(experiments.c.created_at.desc(), experiments.c.id.desc())
                    .limit(limit)
                )
            }
            found = for_runs(conn, list(runs), item_id)
        order = {run_id: k for k, run_id in enumerate(runs)}
        found.sort(key=lambda pair: (order[pair[0]], pair[1].repetition))
        return [(runs[run_id], result) for run_id, result in found]

    def iter_results(self, ref: str, *, batch_size: int = 1000) -> Iterator[Result]:
        """Every result with its scores, in plan order, one short read per batch."""
        experiment_id = self.get(ref).id
        cursor: str | None = None
        while True:
            with self.db.read() as conn:
                rows, cursor = page(conn, experiment_id, None, None, batch_size, cursor)
            yield from rows
            if cursor is None:
                return

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
    ) -> None:
        """End a run: unfinished results become cancelled, the status and error are set, and
        the keys of ``metadata`` (what the run learned, e.g. why it stopped) are merged into
        its metadata, in the same transaction.

        With ``lease``, only while the lease is held (else :class:`LeaseLost`, nothing written).
        """
        with self.db.write() as conn:
            if lease is not None:
                fence(conn, lease)
            self._finish(conn, experiment_id, status, error)
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
    ) -> None:
        """End the run; its active period (if one is open) ends at ``end`` (default: now)."""
        now = utcnow()
        row = conn.execute(
            select(
                experiments.c.active_s,
                experiments.c.resumed_at,
                experiments.c.started_at,
                experiments.c.finished_at,
            ).where(experiments.c.id == experiment_id)
        ).one()
        active = close_period(row, end or now)
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
    ) -> tuple[Experiment, builtins.list[WorkItem]]:
        """The results a resumed run must execute, with their item's context and metadata."""
        statuses = list(_UNFINISHED) + ([ResultStatus.failed.value] if retry_errors else [])
        with self.db.read() as conn:
            row = self._row(conn, ref)
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
                    results.outerjoin(
                        dataset_items,
                        and_(
                            dataset_items.c.id == results.c.item_id,
                            dataset_items.c.dataset_id == row.dataset_id,
                            alive_at(row.dataset_version),
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
        return self.record_rows(experiment_id, completion_rows(batch), lease=lease, fresh=fresh)

    def record_rows(
        self, experiment_id: str, rows: Rows, *, lease: Lease | None = None, fresh: bool = False
    ) -> int:
        """:meth:`record` for rows already flattened by :func:`completion_rows`.

        With ``lease``, the rows are written only while it is held (else :class:`LeaseLost`).
        ``fresh``: the run was planned by the runner holding ``lease`` (see
        :func:`~assay.store.recording.write_rows`).
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


def _check_limit(limit: int) -> int:
    if not 1 <= limit <= _MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {_MAX_LIMIT}", field="limit")
    return limit
