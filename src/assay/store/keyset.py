"""Keyset pages that go both ways: a *next* cursor holds the sort values of a page's last row,
a *previous* cursor (``"p"`` first) those of its first row, and the rows before it are read
in the reverse order, then turned around."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, Select

from assay.errors import InvalidInput
from assay.store.sql import after_keyset, decode_cursor, encode_cursor

BACK = "p"


def decode(cursor: str, arity: int) -> tuple[bool, list[Any]]:
    """(backwards, the sort values) of a cursor of ``arity`` values."""
    try:
        return False, decode_cursor(cursor, arity)
    except InvalidInput:
        values = decode_cursor(cursor, arity + 1)
        if values[0] != BACK:
            raise
        return True, values[1:]


def read(
    conn: Connection,
    query: Select[Any],
    columns: Sequence[ColumnElement[Any]],
    descending: bool,
    limit: int,
    after: tuple[bool, Sequence[Any]] | None,
) -> tuple[list[Row[Any]], bool, bool]:
    """The page's rows in sort order, whether a next page and a previous page exist."""
    backwards = after is not None and after[0]
    if after is not None:
        query = query.where(after_keyset(columns, after[1], descending != backwards))
    reverse = descending != backwards
    order = [c.desc() for c in columns] if reverse else list(columns)
    rows = list(conn.execute(query.order_by(*order).limit(limit + 1)).all())
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
        return rows, bool(rows), more
    return rows, more, after is not None and bool(rows)


def cursors(
    first: Sequence[Any] | None, last: Sequence[Any] | None, has_prev: bool, has_next: bool
) -> tuple[str | None, str | None]:
    """(previous, next) cursors from the first and last rows' sort values."""
    prev = encode_cursor(BACK, *first) if has_prev and first is not None else None
    nxt = encode_cursor(*last) if has_next and last is not None else None
    return prev, nxt
