"""Small SQL helpers shared by the repositories: keyset cursors, JSON filters, row mapping."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Table,
    Text,
    and_,
    cast,
    exists,
    func,
    literal,
    or_,
    select,
)

from assay.errors import InvalidInput

if TYPE_CHECKING:
    from sqlalchemy.dialects.postgresql import Insert as PgInsert
    from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
    from sqlalchemy.engine import Dialect


def encode_cursor(*values: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(list(values))).decode().rstrip("=")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = orjson.loads(base64.urlsafe_b64decode(padded))
    except (ValueError, orjson.JSONDecodeError):
        raise InvalidInput("malformed pagination cursor", field="cursor") from None
    if not isinstance(values, list) or len(values) != arity:
        raise InvalidInput("malformed pagination cursor", field="cursor")
    return values


def after_keyset(
    columns: Sequence[ColumnElement[Any]], values: Sequence[Any], descending: bool
) -> ColumnElement[bool]:
    """Rows strictly after ``values`` in (columns...) order, written portably as OR-of-ANDs.

    The leading ``first >= value`` (``<=`` descending) is implied by the OR but lets the
    database seek the index to the cursor instead of scanning from the start.
    """
    clauses = []
    for i, column in enumerate(columns):
        equal = [columns[j] == values[j] for j in range(i)]
        step = column < values[i] if descending else column > values[i]
        clauses.append(and_(*equal, step))
    first = columns[0] <= values[0] if descending else columns[0] >= values[0]
    return and_(first, or_(*clauses))


def json_array_contains(
    column: ColumnElement[Any], value: str, dialect: str
) -> ColumnElement[bool]:
    """``value`` is an element of the JSON array in ``column``."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import JSONB

        return cast(column, JSONB).op("?")(literal(value))
    each = func.json_each(column).table_valued("value").alias("each")
    return exists(select(literal(1)).select_from(each).where(each.c.value == value))


def upsert(table: Table, dialect: str) -> PgInsert | SqliteInsert:
    """An INSERT with the dialect's ON CONFLICT clauses; imports only the dialect in use."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


def in_run(column: ColumnElement[Any], experiment_id: str) -> ColumnElement[bool]:
    """``column == experiment_id``, written so that no index on ``column`` can serve it: for a
    read that an id range drives (a page of a run's rows in primary key order), so that the
    planner does not pick an index of the experiment instead and scan, or sort, every row the
    run has for each page."""
    return func.coalesce(column, "") == experiment_id


def text_contains(column: ColumnElement[Any], needle: str) -> ColumnElement[bool]:
    """Case-insensitive substring match on a column (JSON columns match their serialised text)."""
    escaped = needle.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return func.lower(cast(column, Text)).like(f"%{escaped}%", escape="\\")


class DriverQuery:
    """A query compiled once for a dialect, run on the driver's cursor as often as needed with
    new values for its named parameters (:func:`sqlalchemy.bindparam`): a keyset read of many
    pages compiles its statements once."""

    def __init__(self, query: Select[Any], dialect: Dialect) -> None:
        compiled = query.compile(dialect=dialect)
        self.sql = str(compiled)
        self._params = dict(compiled.params)
        self._order = tuple(compiled.positiontup or ()) if compiled.positional else None

    def params(self, values: Mapping[str, Any]) -> Any:
        """The driver's parameters: the query's own values with ``values`` set."""
        merged = {**self._params, **values} if values else self._params
        return merged if self._order is None else tuple(merged[k] for k in self._order)

    @contextmanager
    def cursor(self, conn: Connection, **values: Any) -> Iterator[Any]:
        """The driver's cursor with the query executed on it: rows without per-value
        processing (SQLite booleans as 0/1, JSON as the text or the values the driver
        decodes)."""
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(self.sql, self.params(values))
            yield cursor
        finally:
            cursor.close()

    def rows(self, conn: Connection, **values: Any) -> list[tuple[Any, ...]]:
        """Every row, straight from the driver's cursor (see :meth:`cursor`)."""
        with self.cursor(conn, **values) as cursor:
            rows: list[tuple[Any, ...]] = cursor.fetchall()
            return rows


@contextmanager
def driver_cursor(conn: Connection, query: Select[Any]) -> Iterator[Any]:
    """The driver's cursor with ``query`` executed on it (see :class:`DriverQuery`)."""
    with DriverQuery(query, conn.dialect).cursor(conn) as cursor:
        yield cursor


def fetch_rows(conn: Connection, query: Select[Any]) -> list[tuple[Any, ...]]:
    """``query``'s rows straight from the driver's cursor (see :class:`DriverQuery`)."""
    return DriverQuery(query, conn.dialect).rows(conn)
