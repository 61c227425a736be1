"""One run's results sorted by a column, filtered by text, paged by keyset both ways.

Sorting runs in SQL: the page's ids are chosen first from the sort key alone (so the database
sorts narrow rows, not whole results), then those results are read with their scores. A
result without a value for the key sorts after every result that has one, in either
direction; ties break on the result id, so pages never overlap or skip.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, Float, Select, case, cast, func, or_, select

from assay.domain import ResultStatus
from assay.domain.result_table import RESULT_SORT_FIELDS, ResultTable
from assay.errors import InvalidInput
from assay.store.result_pages import records
from assay.store.sql import after_keyset, decode_cursor, encode_cursor, text_contains
from assay.store.tables import results, scores

#: What a missing value sorts as: after every real value, ascending or descending.
_LAST = {False: 1e300, True: -1e300}
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
) -> ResultTable:
    """A page after (or, for a *previous* cursor, before) ``cursor`` in ``sort`` order."""
    field, name, descending = parse_sort(sort)
    search = search.strip() if search else None
    key = _key(field, name, descending)
    backwards = False
    query = _filtered(
        select(results.c.id, key.label("sort_key")), experiment_id, status, passed, search
    )
    if cursor:
        way, value, last_id = decode_cursor(cursor, 3)
        if way not in ("n", "p") or not isinstance(last_id, str):
            raise InvalidInput("malformed pagination cursor", field="cursor")
        if field != "position" and (not isinstance(value, int | float) or isinstance(value, bool)):
            raise InvalidInput("malformed pagination cursor", field="cursor")
        backwards = way == "p"
        columns = [results.c.id] if field == "position" else [key, results.c.id]
        values = [last_id] if field == "position" else [value, last_id]
        query = query.where(after_keyset(columns, values, descending != backwards))
    reverse = descending != backwards
    order = [key.desc(), results.c.id.desc()] if reverse else [key, results.c.id]
    picked = list(conn.execute(query.order_by(*order).limit(limit + 1)).all())
    more = len(picked) > limit
    picked = picked[:limit]
    if backwards:
        picked.reverse()
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
    if not cursor:
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
