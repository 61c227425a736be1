"""Spans written in bulk: traces upserted, observations inserted once.

The OTLP path writes rows the mapper has already built, without validating them as records
again. Spans are immutable in OpenTelemetry, so a span id already stored under the same trace
is skipped (a re-sent batch stores nothing twice), and one stored under another trace is
refused. A trace is inserted if new, and otherwise only the fields the batch sets change.
Both inserts are ``ON CONFLICT`` statements, so two requests carrying the same new trace or
span at once never fail on a duplicate key.

A batch is one transaction of one statement per table (per chunk of rows). Stored span ids are
looked up only when the insert skipped some spans (a re-sent or overlapping batch), to tell a
duplicate from a span id taken by another trace. Times arrive as integer nanoseconds since the
epoch and are written as the time columns hold them.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, select

from assay.errors import InvalidInput, StorageError
from assay.store.db import Database
from assay.store.online_queue import mark_pending
from assay.store.tables import observations, traces
from assay.store.types import utcnow

_CHUNK = 500  # ids per IN list
_ROWS = 1000  # rows per executemany (SQLite)
_PG_ROWS = 500  # rows per multi-row INSERT (PostgreSQL: 18 columns, under its 65,535 parameters)
_GROWTH_LOCK = threading.Lock()
_COLUMNS = (
    "id",
    "trace_id",
    "parent_id",
    "type",
    "name",
    "start_time",
    "end_time",
    "input",
    "output",
    "model",
    "model_parameters",
    "tokens_in",
    "tokens_out",
    "cost",
    "level",
    "status_message",
    "metadata",
    "project_id",
)
assert set(_COLUMNS) == {c.name for c in observations.c}, "observations has other columns"
_JSON = frozenset({"input", "output", "model_parameters", "metadata"})
_TIMES = frozenset({"start_time", "end_time"})
_TRACE_COLUMNS = (
    "id",
    "project_id",
    "created_at",
    "name",
    "input",
    "output",
    "metadata",
    "tags",
    "session_id",
    "user_id",
    "start_time",
    "end_time",
)
assert set(_TRACE_COLUMNS) == {c.name for c in traces.c}, "traces has other columns"
_TRACE_JSON = frozenset({"input", "output", "metadata", "tags"})
_TRACE_DEFAULTS: dict[str, Any] = {
    "name": None,
    "input": None,
    "output": None,
    "metadata": {},
    "tags": [],
    "session_id": None,
    "user_id": None,
    "start_time": None,
    "end_time": None,
}


@dataclass
class SpanWrite:
    """What one bulk write did."""

    traces: int = 0
    inserted: int = 0
    duplicates: int = 0
    refused: list[str] = field(default_factory=list)


def write_spans(
    db: Database,
    project_id: str,
    trace_fields: dict[str, dict[str, Any]],
    spans: list[dict[str, Any]],
) -> SpanWrite:
    """Upsert ``trace_fields`` (trace id -> the fields to set) and insert the new ``spans``
    (observation rows without ``project_id``), in one transaction."""
    result = SpanWrite(traces=len(trace_fields))
    row = _row_maker(db.dialect, project_id)
    rows = [row(span) for span in spans]  # built before the write lock is taken
    now = utcnow()
    with db.write() as conn:
        _upsert_traces(conn, db.dialect, project_id, trace_fields, now)
        if db.dialect == "postgresql":
            inserted = _copy_observations(conn, rows)
        else:
            head = f"INSERT INTO {observations.name} ({', '.join(_COLUMNS)})"
            values = f"({_values(db.dialect, _COLUMNS, _JSON)})"
            inserted = _insert(conn, db.dialect, head, values, "ON CONFLICT DO NOTHING", rows)
        if inserted < len(spans):  # some were stored already: by this trace or another
            owners = _owners(conn, project_id, [s["id"] for s in spans])
            for span in spans:
                owner = owners.get(span["id"])
                if owner is not None and owner != span["trace_id"]:
                    result.refused.append(span["id"])
        result.inserted = inserted
        result.duplicates = len(spans) - inserted - len(result.refused)
        touched = {*trace_fields, *(s["trace_id"] for s in spans)}
        mark_pending(conn, db.dialect, project_id, touched, now)
    _refresh_statistics(db, inserted)
    return result


def _insert(
    conn: Connection,
    dialect: str,
    head: str,
    values: str,
    conflict: str,
    rows: list[tuple[Any, ...]],
) -> int:
    """``rows`` inserted: ``executemany`` on SQLite, multi-row statements on PostgreSQL
    (one round trip per chunk instead of one per row). Returns how many rows were written."""
    written = 0
    if dialect == "sqlite":
        for start in range(0, len(rows), _ROWS):
            sql = f"{head} VALUES {values} {conflict}"
            written += conn.exec_driver_sql(sql, rows[start : start + _ROWS]).rowcount
        return written
    for start in range(0, len(rows), _PG_ROWS):
        chunk = rows[start : start + _PG_ROWS]
        sql = f"{head} VALUES {', '.join([values] * len(chunk))} {conflict}"
        written += conn.exec_driver_sql(sql, tuple(v for row in chunk for v in row)).rowcount
    return written


_STAGING = "assay_span_rows"


def _copy_observations(conn: Connection, rows: list[tuple[Any, ...]]) -> int:
    """PostgreSQL: ``rows`` streamed with ``COPY`` into a session-local staging table, then
    moved with one ``INSERT … SELECT … ON CONFLICT DO NOTHING``. Returns the rows written.

    COPY costs the client a fraction of binding 18 parameters per row, and the server parses
    no statement per row; the staging table empties itself at the end of the transaction.
    """
    import psycopg

    columns = ", ".join(_COLUMNS)
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGING} "
        f"(LIKE {observations.name}) ON COMMIT DELETE ROWS"
    )
    cursor: Any = conn.connection.cursor()  # psycopg's, in the same transaction
    try:
        with cursor.copy(f"COPY {_STAGING} ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.DataError as exc:  # a value the database refuses, e.g. invalid JSON text
        raise InvalidInput(f"cannot store value: {exc}".strip()) from exc
    except psycopg.OperationalError as exc:
        raise StorageError(f"database unavailable: {exc}") from exc
    finally:
        cursor.close()
    result = conn.exec_driver_sql(
        f"INSERT INTO {observations.name} ({columns}) SELECT {columns} FROM {_STAGING} "
        "ON CONFLICT DO NOTHING"
    )
    return int(result.rowcount)


#: Rows written by this process per PostgreSQL database, and the count at which the next
#: ANALYZE runs: a table that grew from empty in a burst (before autovacuum looked at it)
#: otherwise keeps statistics that make id lookups scan it.
_GROWTH: weakref.WeakKeyDictionary[Database, list[int]] = weakref.WeakKeyDictionary()
_FIRST_ANALYZE = 5_000


def _refresh_statistics(db: Database, inserted: int) -> None:
    if db.dialect != "postgresql" or not inserted:
        return
    with _GROWTH_LOCK:
        counts = _GROWTH.setdefault(db, [0, _FIRST_ANALYZE])
        counts[0] += inserted
        due = counts[0] >= counts[1]
        if due:
            counts[1] = counts[0] * 2  # at 5k, 10k, 20k… rows: a logarithmic number of times
    if due:
        with db.write() as conn:
            conn.exec_driver_sql(f"ANALYZE {traces.name}, {observations.name}")


def _json(value: Any) -> str | None:
    if value is None:
        return None
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer past 64 bits: kept as text
        return orjson.dumps(value, default=str).decode()


#: Whole seconds -> their ISO-8601 text (spans of a batch share few seconds); bounded.
_SECONDS: dict[int, str] = {}


def _sqlite_time(nanos: int | None) -> str | None:
    """What ``UtcDateTime`` stores on SQLite (``2026-02-02T10:00:00.123456Z``) for a time in
    nanoseconds since the epoch."""
    if nanos is None:
        return None
    seconds, micros = divmod(nanos // 1000, 1_000_000)
    text = _SECONDS.get(seconds)
    if text is None:
        if len(_SECONDS) >= 4096:
            _SECONDS.clear()
        # Years from 1970 on: strftime's %Y has four digits, as UtcDateTime writes them.
        text = _SECONDS[seconds] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{text}.{micros:06d}Z"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _postgres_time(nanos: int | None) -> datetime | None:
    return None if nanos is None else _EPOCH + timedelta(microseconds=nanos // 1000)


def _time_maker(dialect: str) -> Callable[[int | None], Any]:
    return _sqlite_time if dialect == "sqlite" else _postgres_time


def _row_maker(dialect: str, project_id: str) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """Observation rows as the driver's tuples (in ``_COLUMNS`` order): JSON serialised once,
    times as the column type stores them."""
    stamp = _time_maker(dialect)
    dumps = _json

    def row(s: dict[str, Any]) -> tuple[Any, ...]:
        return (
            s["id"],
            s["trace_id"],
            s["parent_id"],
            s["type"],
            s["name"],
            stamp(s["start_time"]),
            stamp(s["end_time"]),
            dumps(s["input"]),
            dumps(s["output"]),
            s["model"],
            dumps(s["model_parameters"]),
            s["tokens_in"],
            s["tokens_out"],
            s["cost"],
            s["level"],
            s["status_message"],
            dumps(s["metadata"]),
            project_id,
        )

    return row


def _values(dialect: str, columns: Sequence[str], json: frozenset[str]) -> str:
    mark = "?" if dialect == "sqlite" else "%s"
    cast = "::jsonb" if dialect == "postgresql" else ""
    return ", ".join(f"{mark}{cast}" if c in json else mark for c in columns)


def _upsert_traces(
    conn: Connection,
    dialect: str,
    project_id: str,
    trace_fields: dict[str, dict[str, Any]],
    now: datetime,
) -> None:
    """One statement per set of fields: new traces get them (and defaults), stored traces
    only them."""
    stamp = _time_maker(dialect)
    created: Any = _sqlite_now(now) if dialect == "sqlite" else now
    groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for trace_id, fields in trace_fields.items():
        given = {**_TRACE_DEFAULTS, **fields}
        row = [trace_id, project_id, created]
        for column in _TRACE_COLUMNS[3:]:
            value = given[column]
            if column in _TRACE_JSON:
                value = _json(value)
            elif column in _TIMES:
                value = stamp(value)
            row.append(value)
        groups.setdefault(tuple(sorted(fields)), []).append(tuple(row))
    for keys, rows in groups.items():
        if keys:
            changes = ", ".join(f"{k} = excluded.{k}" for k in keys)
            conflict = f"ON CONFLICT (project_id, id) DO UPDATE SET {changes}"
        else:
            conflict = "ON CONFLICT DO NOTHING"
        head = f"INSERT INTO {traces.name} ({', '.join(_TRACE_COLUMNS)})"
        marks = f"({_values(dialect, _TRACE_COLUMNS, _TRACE_JSON)})"
        _insert(conn, dialect, head, marks, conflict, rows)


def _sqlite_now(now: datetime) -> str:
    return now.astimezone(UTC).isoformat(timespec="microseconds")[:26] + "Z"


def _owners(conn: Connection, project_id: str, ids: list[str]) -> dict[str, str]:
    """Stored observation id -> its trace id, for those of ``ids`` already stored."""
    found: dict[str, str] = {}
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), _CHUNK):
        query = select(observations.c.id, observations.c.trace_id).where(
            observations.c.project_id == project_id,
            observations.c.id.in_(ordered[start : start + _CHUNK]),
        )
        found.update({r.id: r.trace_id for r in conn.execute(query)})
    return found
