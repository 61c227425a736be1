"""Planned results without a row: derived from the plan while a run lasts, written when it stops.

A run the engine executes writes no pending row: the plan is the experiment row alone, and
each result is inserted once, whole, when it finishes (:func:`~assay.store.recording.write_rows`).
That holds for a run planned and executed in one process (``evaluate()``, ``assay run``), for
a run queued through the API or the dashboard for a worker, and for a run on a Ray cluster
(its shards insert the results). Until every planned result has a
row the experiment keeps ``unwritten_base``, the id of its first planned result (the k-th is
``base + k``, see :func:`~assay.ids.sequential_ids`), and ``plan_size``, so:

- counts, summaries and the run tables read each planned result without a row as pending
  (:func:`unwritten_plans`), and the listings in plan order list it as a pending result
  derived from the plan (:mod:`assay.store.plan_pages`);
- a runner that takes the run up (a worker taking a queued run, a resume after a crash) runs
  what :func:`unwritten_work` derives: every planned result without a row and those whose row
  is unfinished; it writes them the checked way, inserting the results that have no row;
- :func:`write_unwritten` writes those rows, the plan derived again from what the experiment
  row stores (the pinned dataset version, the selection with its seed, the trials), a page of
  the plan at a time, and clears ``unwritten_base`` in the same transaction: as ``cancelled``
  when the run ends (what ending does to a pending row), as ``pending`` when its dataset is
  about to be deleted (the plan cannot be derived without its items).

So after a run, every reader sees one row per planned result, as for runs planned with their
rows (uploads). A runner still inserting results when the rows were written by another
process (its dataset was deleted meanwhile) finds them there: its batch is written again the
checked way, updating the rows that exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, Select, func, select, update

from assay.domain import ResultStatus, Selection, WorkItem
from assay.store.db import Database
from assay.store.plan_stream import PAGE, plan_rows, work_of_pages
from assay.store.planning import PlannedItem, item_pages, selected_items
from assay.store.read_ahead import read_ahead
from assay.store.run_bulk import Bulk
from assay.store.run_frames import touch
from assay.store.sql import in_run
from assay.store.tables import experiments, results

_IN = 900  # ids per IN list


def unwritten_plans(conn: Connection, experiment_ids: Sequence[str]) -> dict[str, int]:
    """Of these experiments, those whose results are still being inserted as they finish,
    with the size of their plan (its results without a row read as pending)."""
    if not experiment_ids:
        return {}
    c = experiments.c
    query = select(c.id, c.plan_size).where(
        c.id.in_(list(experiment_ids)), c.unwritten_base.is_not(None)
    )
    return {i: int(size or 0) for i, size in conn.execute(query)}


def plan_items(conn: Connection, row: Row[Any]) -> list[PlannedItem]:
    """The items a stored plan selected, in plan order, read in the caller's transaction
    keeping only those (a run of a selection; a run of the whole version reads it by pages)."""
    return selected_items(
        conn, row.dataset_id, row.dataset_version, Selection.model_validate(row.selection)
    )


def _planned_items(db: Database, row: Row[Any], *, parse: bool) -> Iterator[list[PlannedItem]]:
    """The items of a stored plan in plan order, a page at a time (see ``item_pages`` for
    ``parse``)."""
    if row.selection is None:  # every live item of the version, read page by page
        yield from item_pages(db, row.dataset_id, row.dataset_version, page=PAGE, parse=parse)
        return
    with db.read() as conn:
        items = plan_items(conn, row)
    for k in range(0, len(items), PAGE):
        yield items[k : k + PAGE]


@dataclass(frozen=True)
class UnwrittenWork:
    """What a runner taking up a run still missing rows executes, in plan order: each planned
    result without a row, and each whose row's status is in ``statuses``. Made a page of the
    plan at a time as the run takes it (the finished rows of each page read by their id
    range), so nothing per planned result is held: a queued run of a million items starts
    as light as one planned in the runner's own process."""

    db: Database
    row: Row[Any]
    statuses: tuple[str, ...]
    size: int  # how many, counted when the run was taken up

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[WorkItem]:
        for page in read_ahead(self._pages(), depth=1):  # off the caller's thread (a run's loop)
            yield from page

    def _pages(self) -> Iterator[list[WorkItem]]:
        row = self.row
        pages = _planned_items(self.db, row, parse=True)
        for work in work_of_pages(pages, row.trials, uuid.UUID(row.unwritten_base).int):
            if not work:
                continue
            with self.db.read() as conn:
                done = set(conn.execute(self._done(work)).scalars())
            yield [w for w in work if w.result_id not in done] if done else work

    def _done(self, work: list[WorkItem]) -> Select[Any]:
        """The ids of a page's finished results, read by the page's id range (see
        :func:`~assay.store.sql.in_run`): through the experiment's index the read scanned every
        row the run had written so far, page after page, and a queued run of a million items
        took twice as long as one planned in the runner's process."""
        return select(results.c.id).where(
            results.c.id >= work[0].result_id,
            results.c.id <= work[-1].result_id,
            in_run(results.c.experiment_id, self.row.id),
            results.c.status.not_in(self.statuses),
        )


def unwritten_work(
    db: Database, conn: Connection, row: Row[Any], statuses: Sequence[str]
) -> UnwrittenWork:
    """What a runner taking up the run ``row`` (still missing rows) executes (see
    :class:`UnwrittenWork`), counted in the caller's transaction."""
    finished = conn.execute(
        select(func.count()).where(
            results.c.experiment_id == row.id, results.c.status.not_in(list(statuses))
        )
    ).scalar_one()
    return UnwrittenWork(db, row, tuple(statuses), max((row.plan_size or 0) - finished, 0))


def _stored_ids(conn: Connection, experiment_id: str, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for k in range(0, len(ids), _IN):
        found.update(
            conn.execute(
                select(results.c.id).where(
                    results.c.experiment_id == experiment_id, results.c.id.in_(ids[k : k + _IN])
                )
            ).scalars()
        )
    return found


def write_unwritten(
    db: Database, conn: Connection, bulk: Bulk, row: Row[Any], status: str, *, present: int = 0
) -> int:
    """In the caller's write transaction: a row of ``status`` for every planned result of the
    experiment ``row`` that has none; returns how many were written. Nothing to do for a run
    whose rows were written when it was planned, nor when ``present``, how many of its
    planned results the caller knows to have rows (its writer inserted each once), covers the
    plan: then the rows are not counted again."""
    if row.unwritten_base is None:
        return 0
    planned = row.plan_size or 0
    stored = present
    if stored < planned:
        stored = conn.execute(
            select(func.count()).where(results.c.experiment_id == row.id)
        ).scalar_one()
    written = 0
    if stored < planned and row.dataset_id is not None:
        base, k = uuid.UUID(row.unwritten_base).int, 0
        for items in _planned_items(db, row, parse=False):
            rows = plan_rows(items, row.id, row.trials, base, k, status)
            k += len(rows)
            have = _stored_ids(conn, row.id, [r[0] for r in rows])
            missing = [r for r in rows if r[0] not in have]
            if missing:
                bulk.insert_results(conn, missing)
                written += len(missing)
    conn.execute(update(experiments).where(experiments.c.id == row.id).values(unwritten_base=None))
    if written:
        touch(conn, [row.id])
    return written


def write_unwritten_of_dataset(db: Database, conn: Connection, dataset_id: str) -> None:
    """Before a dataset and its items are deleted: its runs still inserting results get rows
    for what has none (pending), since their plan cannot be derived without the items."""
    runs = conn.execute(
        select(experiments).where(
            experiments.c.dataset_id == dataset_id, experiments.c.unwritten_base.is_not(None)
        )
    ).all()
    bulk = Bulk(db.dialect)
    for run in runs:
        write_unwritten(db, conn, bulk, run, ResultStatus.pending.value)
