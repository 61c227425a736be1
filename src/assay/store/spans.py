"""Spans written in bulk: traces upserted, observations inserted once.

The OTLP path writes rows the mapper has already built, without validating them as records
again. Spans are immutable in OpenTelemetry, so a span id already stored under the same trace
is skipped (a re-sent batch stores nothing twice), and one stored under another trace is
refused. A trace is inserted if new, and otherwise only the fields the batch sets change.
Both inserts are ``ON CONFLICT`` statements, so two requests carrying the same new trace or
span at once never fail on a duplicate key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select

from assay.store.db import Database
from assay.store.sql import upsert
from assay.store.tables import observations, traces
from assay.store.types import utcnow

_CHUNK = 500  # ids per IN list
_ROWS = 1000  # rows per executemany
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
        new: list[dict[str, Any]] = []
        for span in spans:
            owner = owners.get(span["id"])
            if owner is None:
                new.append({**span, "project_id": project_id})
            elif owner == span["trace_id"]:
                result.duplicates += 1
            else:
                result.refused.append(span["id"])
        statement = upsert(observations, db.dialect).on_conflict_do_nothing()
        for start in range(0, len(new), _ROWS):
            conn.execute(statement, new[start : start + _ROWS])
        result.inserted = len(new)
    return result


def _upsert_traces(
    conn: Connection,
    dialect: str,
    project_id: str,
    trace_fields: dict[str, dict[str, Any]],
    now: Any,
) -> None:
    """One statement per set of fields: new traces get them (and defaults), stored traces
    only them."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for trace_id, fields in trace_fields.items():
        row = {**_TRACE_DEFAULTS, **fields, "id": trace_id, "project_id": project_id}
        row["created_at"] = now
        groups.setdefault(tuple(sorted(fields)), []).append(row)
    for keys, rows in groups.items():
        insert = upsert(traces, dialect)
        if keys:
            statement = insert.on_conflict_do_update(
                index_elements=[traces.c.project_id, traces.c.id],
                set_={k: insert.excluded[k] for k in keys},
            )
        else:
            statement = insert.on_conflict_do_nothing()
        for start in range(0, len(rows), _ROWS):
            conn.execute(statement, rows[start : start + _ROWS])


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
