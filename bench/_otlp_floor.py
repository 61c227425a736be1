"""The floor for OTLP ingestion: the same rows written by the bare database driver.

The bench's export requests are mapped in this process (untimed) into plain tuples, then
inserted with ``executemany`` of the DB-API driver itself (``sqlite3`` or ``psycopg``; on
PostgreSQL also with ``COPY``), one transaction per 1,000-span batch, into a fresh database
with Assay's schema and indexes: no HTTP, no protobuf, no mapping, no conflict handling. What
the server achieves is reported as a fraction of this.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from assay.domain.otel_values import OtelLimits
from assay.service.otel_spans import SpanMapper
from assay.service.otlp import PROTOBUF, decode, prices
from assay.store.db import Database
from assay.store.migrate import ensure_schema
from assay.store.projects import ensure_project
from assay.store.tables import observations, traces

_OBS = [c.name for c in observations.c]
_TRACES = [c.name for c in traces.c]
_JSON = {"input", "output", "model_parameters", "metadata", "tags"}


def _cell(column: str, value: Any, dialect: str) -> Any:
    if column in _JSON:
        return None if value is None else orjson.dumps(value).decode()
    if isinstance(value, int) and column in ("start_time", "end_time"):  # nanoseconds
        value = datetime.fromtimestamp(value // 1000 / 1e6, UTC)
    if isinstance(value, datetime) and dialect == "sqlite":
        return value.isoformat(timespec="microseconds")[:26] + "Z"
    return value


def batches(bodies: Sequence[bytes], project_id: str, dialect: str) -> list[tuple[list, list]]:
    """Each body's (trace tuples, observation tuples), as the driver takes them."""
    mapper = SpanMapper(prices(None), OtelLimits())
    now = datetime.now().astimezone()
    out = []
    for data in bodies:
        rows = mapper.map(decode(data, PROTOBUF))
        trace_rows = []
        for trace_id, fields in rows.traces.items():
            given = {"metadata": {}, "tags": [], **fields, "id": trace_id}
            given.update(project_id=project_id, created_at=now)
            trace_rows.append(tuple(_cell(c, given.get(c), dialect) for c in _TRACES))
        obs_rows = [
            tuple(_cell(c, {**o, "project_id": project_id}.get(c), dialect) for c in _OBS)
            for o in rows.observations
        ]
        out.append((trace_rows, obs_rows))
    return out


def _sql(table: str, columns: list[str], mark: str) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"


def _copy(cursor: Any, table: str, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def measure(url: str, bodies: Sequence[bytes], *, copy: bool = False) -> dict[str, Any]:
    """Spans/s and per-batch latency of the bare driver writing ``bodies``' rows to ``url``
    (``copy``: PostgreSQL's ``COPY FROM STDIN`` instead of ``executemany``)."""
    db = Database(url)
    ensure_schema(db)
    project_id = ensure_project(db, "floor").id
    dialect = db.dialect
    db.dispose()
    prepared = batches(bodies, project_id, dialect)
    latencies: list[float] = []
    if dialect == "sqlite":
        conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        mark, begin = "?", "BEGIN IMMEDIATE"
    else:
        import psycopg

        conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        conn.autocommit = True
        mark, begin = "%s", "BEGIN"
    trace_sql, obs_sql = _sql("traces", _TRACES, mark), _sql("observations", _OBS, mark)
    wall, cpu = time.perf_counter(), time.process_time()
    spans = 0
    for trace_rows, obs_rows in prepared:
        at = time.perf_counter()
        cursor = conn.cursor()
        cursor.execute(begin)
        if copy:
            _copy(cursor, "traces", _TRACES, trace_rows)
            _copy(cursor, "observations", _OBS, obs_rows)
        else:
            cursor.executemany(trace_sql, trace_rows)
            cursor.executemany(obs_sql, obs_rows)
        cursor.execute("COMMIT")
        latencies.append((time.perf_counter() - at) * 1000)
        spans += len(obs_rows)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    conn.close()
    q = statistics.quantiles(sorted(latencies), n=100, method="inclusive")
    return {
        "spans_per_s": round(spans / wall),
        "spans_per_cpu_s": round(spans / cpu) if cpu else None,
        "batch_of_1000": {"p50_ms": round(q[49], 1), "p95_ms": round(q[94], 1)},
    }
