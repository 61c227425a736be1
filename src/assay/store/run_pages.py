"""One experiment's results with their scores, read in keyset pages (for columnar builders).

Each page is its own read: a builder that stamps what it builds with the run's data revision
read first (see :mod:`assay.store.run_frames`) stays correct if a write lands between pages.
The page statements are compiled once per read and run on the driver's cursor, so a page
costs the driver's fetch and little else.

The driver's cost is per value it converts, so :func:`coded_pages` reads fewer: a result's
repetition, status and pass flag come as one number, and so do a score's name, source and pass
flag (see :class:`Codes`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, bindparam, case, cast, func, null, select

from assay.store.db import Database
from assay.store.sql import DriverQuery, in_run
from assay.store.tables import results, scores

PAGE = 5_000

# (id, item_id, repetition, status, passed, latency_ms, cost, error[, output])
ResultRow = tuple[Any, ...]
# (result_id, name, numeric_value, passed, source, cost)
ScoreRow = tuple[Any, ...]
# Coded (see Codes): (id, item_id, code, latency_ms, cost, error[, output])
# and (result_id, code, numeric_value, cost)
Page = tuple[list[ResultRow], list[ScoreRow]]


@dataclass(frozen=True)
class RunSpan:
    """How many results a run has (with an item id or not), and its lowest and highest
    result ids (None when it has none)."""

    count: int
    low: str | None
    high: str | None


@dataclass(frozen=True)
class Codes:
    """How :func:`coded_pages` numbers what it reads: a status, a source or a score name is
    its index in ``statuses``, ``sources`` or ``names``, a pass flag is 0 (failed), 1 (passed)
    or 2 (none). A result's code is ``(repetition * len(statuses) + status) * 3 + passed``, a
    score's ``(name * len(sources) + source) * 3 + passed``; a code is None when a value is
    not listed."""

    statuses: Sequence[str]
    sources: Sequence[str]
    names: Sequence[str]


def run_span(db: Database, experiment_id: str) -> RunSpan:
    """The run's :class:`RunSpan`, off one of the run's result indexes (no result row read)."""
    query = select(func.count(), func.min(results.c.id), func.max(results.c.id)).where(
        results.c.experiment_id == experiment_id
    )
    with db.read() as conn:
        count, low, high = conn.execute(query).one()
    return RunSpan(int(count), low, high)


def score_names(db: Database, experiment_id: str) -> list[str]:
    """The names of the run's scores in order, one seek of the run's score index each."""
    query = select(func.min(scores.c.name)).where(
        scores.c.experiment_id == experiment_id, scores.c.name > bindparam("after")
    )
    names: list[str] = []
    with db.read() as conn:
        statement = DriverQuery(query, conn.dialect)
        while (found := statement.rows(conn, after=names[-1] if names else "")[0][0]) is not None:
            names.append(found)
    return names


def _index(column: ColumnElement[Any], values: Sequence[str]) -> ColumnElement[Any]:
    """The value's index in ``values`` (NULL when it is not there)."""
    if not values:
        return null()
    return case({v: i for i, v in enumerate(values)}, value=column)


def _flag(column: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((column.is_(None), 2), (column, 1), else_=0)


def _page_queries(
    db: Database, experiment_id: str, outputs: bool, codes: Codes | None, limit: bool = True
) -> tuple[DriverQuery, DriverQuery, DriverQuery]:
    """The first page's query, the next pages' and their scores' (compiled once; without
    ``limit``, a page is every result up to ``high``)."""
    r, s = results.c, scores.c
    if codes is None:
        result_columns: list[ColumnElement[Any]] = [r.repetition, r.status, r.passed]
        score_columns: list[ColumnElement[Any]] = [s.name, s.numeric_value, s.passed, s.source]
    else:
        statuses, sources = len(codes.statuses), len(codes.sources)
        status = _index(r.status, codes.statuses)
        result_columns = [
            (cast(r.repetition, BigInteger) * statuses + status) * 3 + _flag(r.passed)
        ]
        name, source = _index(s.name, codes.names), _index(s.source, codes.sources)
        score_columns = [(name * sources + source) * 3 + _flag(s.passed), s.numeric_value]
    run = in_run(r.experiment_id, experiment_id)  # the id range drives the read, in key order
    page = select(
        r.id,
        r.item_id,
        *result_columns,
        r.latency_ms,
        r.cost,
        r.error,
        *([r.output] if outputs else []),
    ).order_by(r.id)
    high = r.id <= bindparam("high")
    first = page.where(r.id >= bindparam("after"), high, run)
    after = page.where(r.id > bindparam("after"), high, run)
    if limit:
        first, after = first.limit(bindparam("page")), after.limit(bindparam("page"))
    page_scores = select(s.result_id, *score_columns, s.cost).where(
        s.result_id >= bindparam("first"),
        s.result_id <= bindparam("last"),
        in_run(s.experiment_id, experiment_id),  # the page's range off the result index
    )
    dialect = db.engine.dialect
    return (
        DriverQuery(first, dialect),
        DriverQuery(after, dialect),
        DriverQuery(page_scores, dialect),
    )


def _pages(
    db: Database, experiment_id: str, page: int, outputs: bool, span: RunSpan, codes: Codes | None
) -> Iterator[tuple[Page, tuple[str, str]]]:
    """The run's pages, each with its first and last result id."""
    if span.low is None:
        return
    first, after, page_scores = _page_queries(db, experiment_id, outputs, codes)
    query, last = first, span.low
    while True:
        with db.read() as conn:
            rows = query.rows(conn, after=last, high=span.high, page=page)
            if not rows:
                return
            bounds = rows[0][0], rows[-1][0]
            score_rows = page_scores.rows(conn, first=bounds[0], last=bounds[1])
        yield (rows, score_rows), bounds
        if len(rows) < page:
            return
        query, last = after, bounds[1]


def result_pages(
    db: Database,
    experiment_id: str,
    *,
    page: int = PAGE,
    outputs: bool = False,
    span: RunSpan | None = None,
) -> Iterator[Page]:
    """The run's results in plan order, ``page`` at a time, each with the scores of its
    results (as the driver returns them: SQLite booleans as 0/1, JSON as text). With
    ``outputs``, each result row ends with its output. ``span``: the run's
    :class:`RunSpan` when the caller read it."""
    span = span or run_span(db, experiment_id)
    for rows, _ in _pages(db, experiment_id, page, outputs, span, None):
        yield rows


def coded_pages(
    db: Database,
    experiment_id: str,
    codes: Codes,
    *,
    page: int = PAGE,
    outputs: bool = False,
    span: RunSpan | None = None,
) -> Iterator[tuple[Page, tuple[str, str]]]:
    """:func:`result_pages` with rows coded as ``codes`` tells, each page with its first and
    last result id: a page holding a value ``codes`` does not list (a None code: a score name
    written since the names were read, an unknown status or source) is read again with
    :func:`plain_page`."""
    span = span or run_span(db, experiment_id)
    yield from _pages(db, experiment_id, page, outputs, span, codes)


def plain_page(
    db: Database, experiment_id: str, first: str, last: str, *, outputs: bool = False
) -> Page:
    """The run's results from result id ``first`` to ``last`` with their scores, as
    :func:`result_pages` reads them."""
    query, _, page_scores = _page_queries(db, experiment_id, outputs, None, limit=False)
    with db.read() as conn:
        rows = query.rows(conn, after=first, high=last)
        return rows, page_scores.rows(conn, first=first, last=last)
