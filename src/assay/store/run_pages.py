"""One experiment's results with their scores, read in keyset pages (for columnar builders).

Each page is its own read: a builder that stamps what it builds with the run's data revision
read first (see :mod:`assay.store.run_frames`) stays correct if a write lands between pages.
The page statements are compiled once per read and run on the driver's cursor, so a page
costs the driver's fetch and little else.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, select

from assay.store.db import Database
from assay.store.sql import DriverQuery
from assay.store.tables import results, scores

PAGE = 5_000

# (id, item_id, repetition, status, passed, latency_ms, cost, error[, output])
ResultRow = tuple[Any, ...]
# (result_id, name, numeric_value, passed, source, cost)
ScoreRow = tuple[Any, ...]


@dataclass(frozen=True)
class RunSpan:
    """How many results a run has (with an item id or not), and its lowest and highest
    result ids (None when it has none)."""

    count: int
    low: str | None
    high: str | None


def run_span(db: Database, experiment_id: str) -> RunSpan:
    """The run's :class:`RunSpan`, off one of the run's result indexes (no result row read)."""
    query = select(func.count(), func.min(results.c.id), func.max(results.c.id)).where(
        results.c.experiment_id == experiment_id
    )
    with db.read() as conn:
        count, low, high = conn.execute(query).one()
    return RunSpan(int(count), low, high)


def _page_queries(
    db: Database, experiment_id: str, outputs: bool
) -> tuple[DriverQuery, DriverQuery, DriverQuery]:
    """The first page's query, the next pages' and their scores' (compiled once)."""
    # The id range drives the read (primary key order, no sort); the experiment is wrapped so
    # that the planner does not pick its index and sort the whole run per page.
    run = func.coalesce(results.c.experiment_id, "") == experiment_id
    page = (
        select(
            results.c.id,
            results.c.item_id,
            results.c.repetition,
            results.c.status,
            results.c.passed,
            results.c.latency_ms,
            results.c.cost,
            results.c.error,
            *([results.c.output] if outputs else []),
        )
        .order_by(results.c.id)
        .limit(bindparam("page"))
    )
    high = results.c.id <= bindparam("high")
    first = page.where(results.c.id >= bindparam("after"), high, run)
    after = page.where(results.c.id > bindparam("after"), high, run)
    page_scores = select(
        scores.c.result_id,
        scores.c.name,
        scores.c.numeric_value,
        scores.c.passed,
        scores.c.source,
        scores.c.cost,
    ).where(
        scores.c.result_id >= bindparam("first"),
        scores.c.result_id <= bindparam("last"),
        # Wrapped so that the planner reads the page's range off the result index rather
        # than every score of the run through the experiment index.
        func.coalesce(scores.c.experiment_id, "") == experiment_id,
    )
    dialect = db.engine.dialect
    return (
        DriverQuery(first, dialect),
        DriverQuery(after, dialect),
        DriverQuery(page_scores, dialect),
    )


def result_pages(
    db: Database,
    experiment_id: str,
    *,
    page: int = PAGE,
    outputs: bool = False,
    span: RunSpan | None = None,
) -> Iterator[tuple[list[ResultRow], list[ScoreRow]]]:
    """The run's results in plan order, ``page`` at a time, each with the scores of its
    results (as the driver returns them: SQLite booleans as 0/1, JSON as text). With
    ``outputs``, each result row ends with its output. ``span``: the run's
    :class:`RunSpan` when the caller read it."""
    span = span or run_span(db, experiment_id)
    if span.low is None:
        return
    first, after, page_scores = _page_queries(db, experiment_id, outputs)
    query, last = first, span.low
    while True:
        with db.read() as conn:
            rows = query.rows(conn, after=last, high=span.high, page=page)
            if not rows:
                return
            last = rows[-1][0]
            score_rows = page_scores.rows(conn, first=rows[0][0], last=last)
        yield rows, score_rows
        if len(rows) < page:
            return
        query = after
