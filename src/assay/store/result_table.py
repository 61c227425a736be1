"""One run's results sorted by a column, filtered by text, paged by keyset both ways.

Sorting runs in SQL: the page's ids are chosen first from the sort key alone (so the database
sorts narrow rows, not whole results), then those results are read with their scores. A
result without a value for the key sorts after every result that has one, in either
direction; ties break on the result id, so pages never overlap or skip.

Latency, cost and score orders are read straight from indexes (``results(experiment_id,
latency_ms, id)``, ``results(experiment_id, cost, id)``, ``scores(experiment_id, name,
numeric_value, result_id)``) in two segments: the results with a value in index order, then
those without one in id order, so a page reads about a page of index entries, not the run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Row,
    Select,
    and_,
    case,
    cast,
    func,
    literal,
    or_,
    select,
)

from assay.domain import ResultStatus
from assay.domain.result_table import RESULT_SORT_FIELDS, ResultTable
from assay.errors import InvalidInput
from assay.store.plan_pages import Plan, listed, positions
from assay.store.plan_pages import count as count_planned
from assay.store.result_pages import records
from assay.store.sql import after_keyset, decode_cursor, encode_cursor, text_contains
from assay.store.tables import results, scores


class _Position(NamedTuple):
    """A listed position of a plan (see :mod:`assay.store.plan_pages`)."""

    id: str
    sort_key: None
    position: int
    has_row: bool


#: What a missing value sorts as: after every real value, ascending or descending.
_LAST = {False: 1e300, True: -1e300}
#: Orders read from an index (see the module's documentation).
_INDEXED = frozenset({"latency", "cost", "score"})
_STATUS_ORDER = {"failed": 0, "cancelled": 1, "pending": 2, "running": 3, "completed": 4}


def parse_sort(sort: str) -> tuple[str, str | None, bool]:
    """``-latency`` → ("latency", None, True); ``score:accuracy`` → ("score", "accuracy", False)."""
    descending = sort.startswith("-")
    field = sort.lstrip("-") or "position"
    name = None
    if field.startswith("score:"):
        field, name = "score", field[len("score:") :]
        if not name or len(name) > 200:
            raise InvalidInput("sort: name the score, as score:NAME", field="sort")
    elif field not in RESULT_SORT_FIELDS:
        allowed = ", ".join((*RESULT_SORT_FIELDS, "score:NAME"))
        raise InvalidInput(f"sort: {sort!r} is not one of {allowed}", field="sort")
    return field, name, descending


def _key(field: str, name: str | None, descending: bool) -> ColumnElement[Any]:
    if field == "position":
        return results.c.id
    value: ColumnElement[Any]
    if field == "latency":
        value = results.c.latency_ms
    elif field == "cost":
        value = results.c.cost
    elif field == "tokens":
        value = func.coalesce(results.c.tokens_in, 0) + func.coalesce(results.c.tokens_out, 0)
        value = func.nullif(value, 0)
    elif field == "status":  # errors first, then unfinished, then completed
        value = case(_STATUS_ORDER, value=results.c.status, else_=len(_STATUS_ORDER))
    else:  # one scorer's value; a scorer that failed on the result has none
        value = (
            select(func.max(scores.c.numeric_value))
            .where(scores.c.result_id == results.c.id, scores.c.name == name)
            .scalar_subquery()
        )
    return func.coalesce(cast(value, Float), _LAST[descending])


def _filtered(
    query: Select[Any],
    experiment_id: str,
    status: ResultStatus | None,
    passed: bool | None,
    search: str | None,
) -> Select[Any]:
    query = query.where(results.c.experiment_id == experiment_id)
    if status is not None:
        query = query.where(results.c.status == status.value)
    if passed is not None:
        query = query.where(results.c.passed.is_(passed))
    if search:
        query = query.where(
            or_(
                text_contains(results.c.input, search),
                text_contains(results.c.expected_output, search),
                text_contains(results.c.output, search),
            )
        )
    return query


def _segments(
    field: str,
    name: str | None,
    descending: bool,
    filtered: Callable[[Select[Any]], Select[Any]],
) -> tuple[Select[Any], Select[Any], ColumnElement[Any], ColumnElement[Any]]:
    """The two segments of an indexed order: results with a value (its column and the id
    column to order by), then results without one; each selects ``id`` and ``sort_key``."""
    missing = literal(_LAST[descending], Float).label("sort_key")
    if field in ("latency", "cost"):
        column = results.c.latency_ms if field == "latency" else results.c.cost
        valued = filtered(select(results.c.id, column.label("sort_key")).where(column.is_not(None)))
        empty = filtered(select(results.c.id, missing).where(column.is_(None)))
        return valued, empty, column, results.c.id
    # A result's value is the largest of its scores of that name (one per source): the
    # score rows that another row of the same result outranks are skipped.
    other = scores.alias("other")
    outranked = (
        select(other.c.id)
        .where(
            other.c.result_id == scores.c.result_id,
            other.c.name == scores.c.name,
            or_(
                other.c.numeric_value > scores.c.numeric_value,
                and_(other.c.numeric_value == scores.c.numeric_value, other.c.id < scores.c.id),
            ),
        )
        .exists()
    )
    value = scores.c.numeric_value
    valued = filtered(
        select(scores.c.result_id.label("id"), value.label("sort_key"))
        .join(results, results.c.id == scores.c.result_id)
        .where(
            scores.c.experiment_id == results.c.experiment_id,
            scores.c.name == name,
            value.is_not(None),
            ~outranked,
        )
    )
    scored = (
        select(scores.c.id)
        .where(scores.c.result_id == results.c.id, scores.c.name == name, value.is_not(None))
        .exists()
    )
    empty = filtered(select(results.c.id, missing).where(~scored))
    return valued, empty, value, scores.c.result_id


def _indexed_page(
    conn: Connection,
    field: str,
    name: str | None,
    descending: bool,
    filtered: Callable[[Select[Any]], Select[Any]],
    limit: int,
    cursor: tuple[bool, float, str] | None,
) -> list[Row[Any]]:
    """Up to ``limit`` rows after the cursor (backwards, value, id), in reading order."""
    valued, empty, column, id_column = _segments(field, name, descending, filtered)
    backwards = cursor is not None and cursor[0]
    reverse = descending != backwards

    def ordered(query: Select[Any], columns: list[ColumnElement[Any]]) -> Select[Any]:
        return query.order_by(*(c.desc() if reverse else c for c in columns))

    in_empty = cursor is not None and cursor[1] == _LAST[descending]
    queries: list[Select[Any]] = []
    first_valued = ordered(valued, [column, id_column])
    first_empty = ordered(empty, [results.c.id])
    if cursor is not None and in_empty:
        first_empty = first_empty.where(after_keyset([results.c.id], [cursor[2]], reverse))
    elif cursor is not None:
        first_valued = first_valued.where(
            after_keyset([column, id_column], [cursor[1], cursor[2]], reverse)
        )
    if not backwards:  # values, then results without one
        queries = [first_empty] if in_empty else [first_valued, first_empty]
    else:  # read the other way: results without a value (from the cursor), then values
        queries = [first_empty, first_valued] if in_empty else [first_valued]
    picked: list[Row[Any]] = []
    for query in queries:
        picked += conn.execute(query.limit(limit - len(picked))).all()
        if len(picked) >= limit:
            break
    return picked


def table_page(
    conn: Connection,
    experiment_id: str,
    *,
    status: ResultStatus | None = None,
    passed: bool | None = None,
    sort: str = "position",
    search: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    plan: Plan | None = None,
) -> ResultTable:
    """A page after (or, for a *previous* cursor, before) ``cursor`` in ``sort`` order.

    ``plan``: the run still misses rows and the filters let pending results through; in
    position order its results without a row are listed, pending, derived from the plan
    (:mod:`assay.store.plan_pages`). Sorted by a value they are left out until they finish."""
    field, name, descending = parse_sort(sort)
    search = search.strip() if search else None
    key = _key(field, name, descending)
    backwards = False
    after: tuple[bool, float, str] | None = None
    if cursor:
        way, value, last_id = decode_cursor(cursor, 3)
        if way not in ("n", "p") or not isinstance(last_id, str):
            raise InvalidInput("malformed pagination cursor", field="cursor")
        if field != "position" and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise InvalidInput("malformed pagination cursor", field="cursor")
        backwards = way == "p"
        after = (backwards, float(value or 0), last_id)

    def filtered(query: Select[Any]) -> Select[Any]:
        return _filtered(query, experiment_id, status, passed, search)

    planned = plan if field == "position" else None  # its results without a row listed
    picked: list[Any]
    if planned is not None:
        step = -1 if descending != backwards else 1
        start = planned.after(after[2], step) if after else (0 if step > 0 else planned.size - 1)
        statuses = None if status is None else [status.value]
        listed_at = positions(conn, planned, start, step, limit + 1, statuses)
        picked = [_Position(planned.result_id(k), None, k, has_row) for k, has_row in listed_at]
    elif field in _INDEXED:
        picked = _indexed_page(conn, field, name, descending, filtered, limit + 1, after)
    else:
        query = filtered(select(results.c.id, key.label("sort_key")))
        if after is not None:
            columns = [results.c.id] if field == "position" else [key, results.c.id]
            values = [after[2]] if field == "position" else [after[1], after[2]]
            query = query.where(after_keyset(columns, values, descending != backwards))
        reverse = descending != backwards
        order = [key.desc(), results.c.id.desc()] if reverse else [key, results.c.id]
        picked = list(conn.execute(query.order_by(*order).limit(limit + 1)).all())
    more = len(picked) > limit
    picked = picked[:limit]
    if backwards:
        picked.reverse()
    if planned is not None:
        found = listed(conn, planned, [(p.position, p.has_row) for p in picked])
    else:
        chosen = select(results).where(results.c.id.in_([p.id for p in picked]))
        rows = {r.id: r for r in conn.execute(chosen)}
        found = records(conn, [rows[p.id] for p in picked if p.id in rows])

    def at(way: str, row: Any) -> str:
        return encode_cursor(way, None if field == "position" else float(row.sort_key), row.id)

    next_cursor = prev_cursor = None
    if picked:
        if backwards or more:
            next_cursor = at("n", picked[-1])
        if more if backwards else bool(cursor):
            prev_cursor = at("p", picked[0])
    total = None
    if not cursor and not more:  # the first page holds every match
        total = len(picked)
    elif not cursor and planned is not None:
        total = count_planned(conn, planned, status)
    elif not cursor and not search:  # an index count; a search would read every result again
        counted = _filtered(
            select(func.count()).select_from(results), experiment_id, status, passed, search
        )
        total = int(conn.execute(counted).scalar_one())
    names = select(scores.c.name).where(scores.c.experiment_id == experiment_id).distinct()
    canonical = ("-" if descending else "") + (f"score:{name}" if name else field)
    return ResultTable(
        results=found,
        sort="position" if canonical == "position" else canonical,
        search=search,
        next_cursor=next_cursor,
        prev_cursor=prev_cursor,
        total=total,
        score_names=sorted(conn.execute(names).scalars()),
    )
