"""Spans written in bulk: traces upserted, observations inserted once.

The OTLP path writes rows the mapper has already built, without validating them as records
again. Spans are immutable in OpenTelemetry, so a span id already stored under the same trace
is skipped (a re-sent batch stores nothing twice), and one stored under another trace is
refused. A trace is inserted if new, and otherwise only the fields the batch sets change.
Both inserts are ``ON CONFLICT`` statements, so two requests carrying the same new trace or
span at once never fail on a duplicate key.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, select

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
    now = utcnow()
    with db.write() as conn:
        _upsert_traces(conn, db.dialect, project_id, trace_fields, now)
        owners = _owners(conn, project_id, [s["id"] for s in spans])
        new: list[tuple[Any, ...]] = []
        row = _row_maker(db.dialect, project_id)
        for span in spans:
            owner = owners.get(span["id"])
            if owner is None:
                new.append(row(span))
            elif owner == span["trace_id"]:
                result.duplicates += 1
            else:
                result.refused.append(span["id"])
        head = f"INSERT INTO {observations.name} ({', '.join(_COLUMNS)})"
        values = f"({_values(db.dialect, _COLUMNS, _JSON)})"
        _insert(conn, db.dialect, head, values, "ON CONFLICT DO NOTHING", new)
        result.inserted = len(new)
        touched = {*trace_fields, *(s["trace_id"] for s in spans)}
        mark_pending(conn, db.dialect, project_id, touched, now)
    _refresh_statistics(db, len(new))
    return result


def _insert(
    conn: Connection,
    dialect: str,
    head: str,
    values: str,
    conflict: str,
    rows: list[tuple[Any, ...]],
) -> None:
    """``rows`` inserted: ``executemany`` on SQLite, multi-row statements on PostgreSQL
    (one round trip per chunk instead of one per row)."""
    if dialect == "sqlite":
        for start in range(0, len(rows), _ROWS):
            conn.exec_driver_sql(f"{head} VALUES {values} {conflict}", rows[start : start + _ROWS])
        return
    for start in range(0, len(rows), _PG_ROWS):
        chunk = rows[start : start + _PG_ROWS]
        sql = f"{head} VALUES {', '.join([values] * len(chunk))} {conflict}"
        conn.exec_driver_sql(sql, tuple(v for row in chunk for v in row))


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


def _sqlite_time(value: datetime | None) -> str | None:
    """What ``UtcDateTime`` stores on SQLite, for the UTC datetimes the mapper makes."""
    if value is None:
        return None
    if value.utcoffset():
        value = value.astimezone(UTC)
    return value.isoformat(timespec="microseconds")[:26] + "Z"


def _time_maker(dialect: str) -> Callable[[datetime | None], Any]:
    return _sqlite_time if dialect == "sqlite" else (lambda v: v)


def _row_maker(dialect: str, project_id: str) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """Observation rows as the driver's tuples (in ``_COLUMNS`` order): JSON serialised once,
    times as the column type stores them."""
    stamp = _time_maker(dialect)

    def row(s: dict[str, Any]) -> tuple[Any, ...]:
        return (
            s["id"],
            s["trace_id"],
            s["parent_id"],
            s["type"],
            s["name"],
            stamp(s["start_time"]),
            stamp(s["end_time"]),
            _json(s["input"]),
            _json(s["output"]),
            s["model"],
            _json(s["model_parameters"]),
            s["tokens_in"],
            s["tokens_out"],
            s["cost"],
            s["level"],
            s["status_message"],
            _json(s["metadata"]),
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
    created = stamp(now)
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
