"""Spans written in bulk: traces upserted, observations inserted once.

The OTLP path writes rows the mapper has already built, without validating them as records
again. Spans are immutable in OpenTelemetry, so a span id already stored under the same trace
is skipped (a re-sent batch stores nothing twice), and one stored under another trace is
refused. A trace is inserted if new, and otherwise only the fields the batch sets change.
Both inserts are ``ON CONFLICT`` statements, so two requests carrying the same new trace or
span at once never fail on a duplicate key.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, select

from assay.store.db import Database
from assay.store.tables import observations, traces
from assay.store.types import utcnow

_CHUNK = 500  # ids per IN list
_ROWS = 1000  # rows per executemany
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
        sql = _insert_sql(db.dialect)
        for start in range(0, len(new), _ROWS):
            conn.exec_driver_sql(sql, new[start : start + _ROWS])
        result.inserted = len(new)
    return result


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


def _insert_sql(dialect: str) -> str:
    return (
        f"INSERT INTO {observations.name} ({', '.join(_COLUMNS)}) "
        f"VALUES ({_values(dialect, _COLUMNS, _JSON)}) ON CONFLICT DO NOTHING"
    )


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
        values = {**_TRACE_DEFAULTS, **fields}
        row = [trace_id, project_id, created]
        for column in _TRACE_COLUMNS[3:]:
            value = values[column]
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
        sql = (
            f"INSERT INTO {traces.name} ({', '.join(_TRACE_COLUMNS)}) "
            f"VALUES ({_values(dialect, _TRACE_COLUMNS, _TRACE_JSON)}) {conflict}"
        )
        for start in range(0, len(rows), _ROWS):
            conn.exec_driver_sql(sql, rows[start : start + _ROWS])


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
