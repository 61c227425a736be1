"""One experiment's results with their scores, read in keyset pages (for columnar builders).

Each page is its own read: a builder that stamps what it builds with the run's data revision
read first (see :mod:`assay.store.run_frames`) stays correct if a write lands between pages.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import func, select

from assay.store.db import Database
from assay.store.sql import fetch_rows
from assay.store.tables import results, scores

PAGE = 5_000

# (id, item_id, repetition, status, passed, latency_ms, cost, error[, output])
ResultRow = tuple[Any, ...]
# (result_id, name, numeric_value, passed, source, cost)
ScoreRow = tuple[Any, ...]


def run_size(db: Database, experiment_id: str) -> tuple[int, int]:
    """How many of the run's results have an item id, and the longest item id (off the
    run's item index: no result row is read)."""
    query = select(func.count(), func.max(func.length(results.c.item_id))).where(
        results.c.experiment_id == experiment_id, results.c.item_id.is_not(None)
    )
    with db.read() as conn:
        count, width = conn.execute(query).one()
    return int(count), int(width or 0)


def result_pages(
    db: Database, experiment_id: str, *, page: int = PAGE, outputs: bool = False
) -> Iterator[tuple[list[ResultRow], list[ScoreRow]]]:
    """The run's results in plan order, ``page`` at a time, each with the scores of its
    results (as the driver returns them: SQLite booleans as 0/1, JSON as text). With
    ``outputs``, each result row ends with its output."""
    with db.read() as conn:
        bounds = conn.execute(
            select(func.min(results.c.id), func.max(results.c.id)).where(
                results.c.experiment_id == experiment_id
            )
        ).one()
    if bounds[0] is None:
        return
    low, high = bounds
    last: str | None = None
    while True:
        # The id range drives the read (primary key order, no sort); the experiment is
        # wrapped so that the planner does not pick its index and sort the whole run per page.
        query = (
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
            .where(
                results.c.id >= low if last is None else results.c.id > last,
                results.c.id <= high,
                func.coalesce(results.c.experiment_id, "") == experiment_id,
            )
            .order_by(results.c.id)
            .limit(page)
        )
        with db.read() as conn:
            rows = fetch_rows(conn, query)
            if not rows:
                return
            first, last = rows[0][0], rows[-1][0]
            score_query = select(
                scores.c.result_id,
                scores.c.name,
                scores.c.numeric_value,
                scores.c.passed,
                scores.c.source,
                scores.c.cost,
            ).where(
                scores.c.result_id >= first,
                scores.c.result_id <= last,
                # Wrapped so that the planner reads the page's range off the result index
                # rather than every score of the run through the experiment index.
                func.coalesce(scores.c.experiment_id, "") == experiment_id,
            )
            score_rows = fetch_rows(conn, score_query)
        yield rows, score_rows
        if len(rows) < page:
            return
