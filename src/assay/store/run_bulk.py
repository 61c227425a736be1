"""Bulk statements on the hot path of a run, executed straight through the DB-API driver.

Planning writes one result row per (item, repetition) (or none, for a run the engine plans
itself: see :mod:`assay.store.unwritten`) and the writer records thousands of results and
scores per second, updating planned rows or inserting whole ones. Going through SQLAlchemy
Core would run its per-row parameter processing (type decorators, datetime formatting) for
every value; here the values are
converted once, in the exact storage format of :mod:`assay.store.types`, and handed to the
driver's ``executemany``. The SQL is the same for both dialects apart from placeholders and the
JSONB casts PostgreSQL needs.

On SQLite each statement carries many rows (``INSERT … VALUES (…), (…)``, ``UPDATE … FROM
(VALUES …)``) rather than going through ``executemany``: the driver releases the interpreter
lock around every step it executes, and a writer thread stepping once per row waits for the
lock again after each row while the event loop runs, so one step per few hundred rows keeps the
writer from stalling behind the loop. PostgreSQL takes the rows with ``COPY`` (a result that may
be there already goes through a temporary table, inserted from it with ``ON CONFLICT``).
"""

from __future__ import annotations

import functools
import itertools
import operator
import sqlite3
from collections.abc import Container, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from assay.ids import sequential_ids
from assay.store.types import utcnow

_EMPTY_OBJECT = "{}"
_NO_ITEM = (None, 0, None, None)  # a result row that does not name its item
_ROWS = 128  # rows per multi-row statement on SQLite
_UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33)  # UPDATE … FROM
_flatten = itertools.chain.from_iterable


@functools.lru_cache(maxsize=64)
def _statement(head: str, row: str, n: int, tail: str = "") -> str:
    return f"{head}{', '.join([row] * n)}{tail}"


def _nulls(rows: Sequence[tuple[Any, ...]]) -> tuple[int, ...]:
    """The positions whose value is None in every one of ``rows`` (not empty)."""
    size = len(rows)
    column = operator.itemgetter
    return tuple(
        k
        for k, value in enumerate(rows[0])
        if value is None and list(map(column(k), rows)).count(None) == size
    )


@functools.lru_cache(maxsize=64)
def _with_nulls(row: str, nulls: tuple[int, ...]) -> str:
    """A row of SQLite placeholders (``(?, ?, …)``) with NULL at the parameters ``nulls``."""
    parts = row.split("?")
    out = [parts[0]]
    for k, part in enumerate(parts[1:]):
        out.append("NULL" if k in nulls else "?")
        out.append(part)
    return "".join(out)


def _without(rows: Sequence[tuple[Any, ...]], nulls: tuple[int, ...]) -> Iterable[Any]:
    """``rows`` without the values at ``nulls`` (every row keeps at least its id and one other
    value, so ``itemgetter`` returns tuples)."""
    return map(operator.itemgetter(*(k for k in range(len(rows[0])) if k not in nulls)), rows)


_STAGED = "assay_staged_results"


@functools.lru_cache(maxsize=16)
def _copy_target(insert: str) -> tuple[str, str]:
    """The table and the columns given a parameter in one of this module's ``INSERT INTO
    table (columns) VALUES (values)`` statements (a column given a constant takes its
    default: ``attempts``, 0)."""
    head, _, values = insert.partition(" VALUES ")
    table, _, columns = head.removeprefix("INSERT INTO ").partition(" (")
    names = [c.strip() for c in columns.rstrip(")").split(",")]
    given = [v.strip() for v in values.strip().removeprefix("(").removesuffix(")").split(", ")]
    kept = [n for n, v in zip(names, given, strict=True) if "%s" in v]
    return table, ", ".join(kept)


@functools.lru_cache(maxsize=16)
def _copy_statement(insert: str) -> str:
    table, columns = _copy_target(insert)
    return f"COPY {table} ({columns}) FROM STDIN"


def _copy(conn: Connection, statement: str, params: Sequence[tuple[Any, ...]]) -> int:
    """Rows sent with PostgreSQL's ``COPY … FROM STDIN``, inside the connection's transaction:
    one stream instead of a statement per row."""
    driver: Any = conn.connection.driver_connection
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        write = copy.write_row
        for row in params:
            write(row)
    return len(params)


class Bulk:
    """Dialect-aware bulk writes for results and scores."""

    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"
        self._seconds: dict[int, str] = {}
        self._max_params: int | None = None
        mark = "%s" if self.pg else "?"
        json = f"CAST({mark} AS JSONB)" if self.pg else mark
        self._insert_results = (
            "INSERT INTO results (id, experiment_id, item_id, repetition, status, input, "
            f"expected_output, attempts) VALUES ({mark}, {mark}, {mark}, {mark}, {mark}, "
            f"{json}, {json}, 0)"
        )
        # A finished result inserted whole (its run wrote no pending row); one that is there
        # already is left alone, and the caller sees it in the count.
        self._outcome_head = (
            "INSERT INTO results (id, experiment_id, item_id, repetition, status, input, "
            "expected_output, output, error, latency_ms, tokens_in, tokens_out, cost, attempts, "
            "passed, started_at, finished_at, trace_id) VALUES "
        )
        self._outcome_row = (
            f"({', '.join([mark] * 5)}, {json}, {json}, {json}, {', '.join([mark] * 10)})"
        )
        self._outcome_tail = " ON CONFLICT DO NOTHING"
        # SQLite: the same updates as one statement per chunk of rows (see the module's doc)
        self._record_head = (
            "UPDATE results SET status = v.column1, output = v.column2, error = v.column3, "
            "latency_ms = v.column4, tokens_in = v.column5, tokens_out = v.column6, "
            "cost = v.column7, attempts = v.column8, passed = v.column9, "
            "started_at = v.column10, finished_at = v.column11, trace_id = v.column12 "
            "FROM (VALUES "
        )
        self._record_tail = ") AS v WHERE results.id = v.column13 AND results.status <> 'completed'"
        self._record = (
            f"UPDATE results SET status = {mark}, output = {json}, error = {mark}, "
            f"latency_ms = {mark}, tokens_in = {mark}, tokens_out = {mark}, cost = {mark}, "
            f"attempts = {mark}, passed = {mark}, started_at = {mark}, finished_at = {mark}, "
            f"trace_id = {mark} WHERE id = {mark} AND status <> 'completed'"
        )
        self._insert_traces = (
            "INSERT INTO traces (id, project_id, name, input, output, metadata, tags, "
            "session_id, start_time, end_time, created_at) VALUES "
            f"({mark}, {mark}, {mark}, {json}, {json}, {json}, {json}, {mark}, {mark}, {mark}, "
            f"{mark})"
        )
        self._insert_observations = (
            "INSERT INTO observations (id, trace_id, parent_id, type, name, start_time, "
            "end_time, input, output, model, model_parameters, tokens_in, tokens_out, cost, "
            "level, status_message, metadata, project_id) VALUES "
            f"({', '.join([mark] * 7)}, {json}, {json}, {mark}, {json}, "
            f"{', '.join([mark] * 5)}, {json}, {mark})"
        )
        self._insert_scores = (
            "INSERT INTO scores (id, project_id, experiment_id, result_id, name, data_type, "
            "numeric_value, string_value, passed, reason, source, evaluator_id, "
            "evaluator_version, cost, tokens_in, tokens_out, latency_ms, metadata, created_at, "
            f"updated_at) VALUES ({', '.join([mark] * 17)}, {json}, {mark}, {mark})"
        )

    def _many(self, conn: Connection, sql: str, params: Sequence[tuple[Any, ...]]) -> int:
        """``sql`` (an ``INSERT … VALUES (row)``) for every row of ``params``: ``COPY`` on
        PostgreSQL, multi-row statements on SQLite. Returns how many rows it wrote."""
        if not params:
            return 0
        if self.pg:
            return _copy(conn, _copy_statement(sql), params)
        head, _, row = sql.partition(" VALUES ")
        return self._chunked(conn, f"{head} VALUES ", row, "", params)

    def _chunked(
        self,
        conn: Connection,
        head: str,
        row: str,
        tail: str,
        params: Sequence[tuple[Any, ...]],
    ) -> int:
        if self._max_params is None:  # host parameters one statement may hold
            driver = conn.connection.driver_connection
            self._max_params = int(driver.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER))  # type: ignore[union-attr]
        size = max(1, min(_ROWS, self._max_params // len(params[0])))
        full = len(params) - len(params) % size
        written = 0
        # A value None in every row of a statement is written as NULL by the statement
        # instead: the driver looks up an adapter for each None it binds (about 0.4 µs).
        for start in range(0, full, size):
            chunk = params[start : start + size]
            nulls = _nulls(chunk)
            sql = _statement(head, _with_nulls(row, nulls) if nulls else row, size, tail)
            values = tuple(_flatten(_without(chunk, nulls) if nulls else chunk))
            written += conn.exec_driver_sql(sql, values).rowcount
        if full < len(params):
            # The rest row by row: few statements per table in each connection's statement
            # cache (a statement of hundreds of rows is about half a megabyte).
            rest = params[full:]
            nulls = _nulls(rest)
            sql = _statement(head, _with_nulls(row, nulls) if nulls else row, 1, tail)
            written += conn.exec_driver_sql(
                sql, list(_without(rest, nulls)) if nulls else rest
            ).rowcount
        return written

    def json(self, value: Any) -> str | None:
        """JSON text for a JSON column (SQL NULL for None, like the Json column type)."""
        if value is None:
            return None
        return orjson.dumps(value).decode()

    def time(self, value: datetime | float | None) -> Any:
        """A timestamp (datetime or Unix seconds) as UtcDateTime stores it: ISO text ending in
        Z on SQLite, an aware datetime on PostgreSQL."""
        if value is None:
            return None
        if isinstance(value, float | int):
            if self.pg:
                return datetime.fromtimestamp(value, UTC)
            second = int(value)
            prefix = self._seconds.get(second)
            if prefix is None:
                if len(self._seconds) > 4096:
                    self._seconds.clear()
                prefix = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
                self._seconds[second] = prefix
            return f"{prefix}.{int((value - second) * 1_000_000):06d}Z"
        if self.pg:
            return value
        if value.tzinfo is not None and value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        text = value.isoformat()
        return f"{text[:26]}Z" if value.microsecond else f"{text[:19]}.000000Z"

    def insert_results(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        """Rows of (id, experiment_id, item_id, repetition, status, input, expected_output,
        raw) where ``raw`` is None or (input, expected_output) already as JSON text."""
        json = self.json
        params = [
            (r[0], r[1], r[2], r[3], r[4], *r[7])
            if r[7] is not None
            else (r[0], r[1], r[2], r[3], r[4], json(r[5]), json(r[6]))
            for r in rows
        ]
        self._many(conn, self._insert_results, params)

    def record(
        self,
        conn: Connection,
        project_id: str,
        experiment_id: str,
        now: datetime,
        rows: Sequence[tuple[Any, ...]],
        trace_rows: Sequence[tuple[Any, ...]] = (),
        existing: Container[str] | None = None,
    ) -> tuple[int, int, list[tuple[Any, ...]]]:
        """Results of (status, output, error, latency, tokens_in, tokens_out, cost, attempts,
        passed, started_at, finished_at, id, trace_id[, item_id, repetition, input,
        expected_output]) and their traces (rows of :meth:`insert_traces`, in the same order).

        A result in ``existing`` (ids of results that have a row) gets its outcome, unless it
        is completed: a completed result is never overwritten. Any other that names its item
        is inserted whole (``existing`` None: every one, as for a run whose results have no
        row until they finish). Returns how many results were updated and inserted, and the
        traces' rows for :meth:`insert_trace_params` (inserted once the caller has checked
        those counts).

        A trace's input, output and times are the result's own: each is converted once."""
        json, time = self.json, self.time
        # SQLite: a flag is bound as the integer it is stored as (``+flag``); the driver binds
        # an int directly but looks up an adapter for a bool, as for None.
        bits = not self.pg
        created = time(now)
        updates = []
        inserts = []
        traces = []
        k, n_traces = 0, len(trace_rows)
        next_trace = trace_rows[0][0] if n_traces else None
        for r in rows:
            output = json(r[1])
            started, finished = time(r[9]), time(r[10])
            rid = r[11]
            passed = r[8]
            if bits and passed is not None:
                passed = +passed
            item, repetition, source, expected = r[13:] if len(r) > 13 else _NO_ITEM
            text = None
            if existing is None or (rid not in existing and item is not None):
                text = json(source)
                inserts.append(
                    (rid, experiment_id, item, repetition, r[0], text, json(expected), output,
                     r[2], r[3], r[4], r[5], r[6], r[7], passed, started, finished, r[12])
                )  # fmt: skip
            else:
                updates.append(
                    (r[0], output, r[2], r[3], r[4], r[5], r[6], r[7], passed, started, finished,
                     r[12], rid)
                )  # fmt: skip
            if rid == next_trace:
                t = trace_rows[k]
                traces.append(
                    (
                        rid,
                        project_id,
                        t[1],
                        text if text is not None and t[2] is source else json(t[2]),
                        output if t[3] is r[1] else json(t[3]),
                        json(t[4]) if t[4] else _EMPTY_OBJECT,
                        "[]",
                        t[5],
                        started if t[6] is r[9] else time(t[6]),
                        finished if t[7] is r[10] else time(t[7]),
                        created,
                    )
                )
                k += 1
                next_trace = trace_rows[k][0] if k < n_traces else None
        if k < n_traces:  # traces of results not in ``rows`` (not expected): written as given
            traces.extend(self._trace_params(project_id, created, trace_rows[k:]))
        return self._update_outcomes(conn, updates), self._insert_outcomes(conn, inserts), traces

    def _update_outcomes(self, conn: Connection, params: list[tuple[Any, ...]]) -> int:
        if not params:
            return 0
        if self.pg or not _UPDATE_FROM:
            return int(conn.exec_driver_sql(self._record, params).rowcount)
        row = f"({', '.join(['?'] * 13)})"
        return self._chunked(conn, self._record_head, row, self._record_tail, params)

    def _insert_outcomes(self, conn: Connection, params: list[tuple[Any, ...]]) -> int:
        if not params:
            return 0
        if self.pg:
            return self._insert_outcomes_pg(conn, params)
        return self._chunked(
            conn, self._outcome_head, self._outcome_row, self._outcome_tail, params
        )

    def _insert_outcomes_pg(self, conn: Connection, params: list[tuple[Any, ...]]) -> int:
        """PostgreSQL: the rows copied into a temporary table (no index, no log), then inserted
        from it in one statement that leaves a result already there alone."""
        sql = f"{self._outcome_head}{self._outcome_row}"
        table, columns = _copy_target(sql)
        conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGED} (LIKE {table} INCLUDING DEFAULTS)"
            " ON COMMIT DELETE ROWS"
        )
        _copy(conn, f"COPY {_STAGED} ({columns}) FROM STDIN", params)
        inserted = conn.exec_driver_sql(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {_STAGED}{self._outcome_tail}"
        ).rowcount
        conn.exec_driver_sql(f"TRUNCATE {_STAGED}")  # a second batch in this transaction
        return int(inserted)

    def insert_trace_params(self, conn: Connection, params: Sequence[tuple[Any, ...]]) -> None:
        """Trace rows as :meth:`record` returns them."""
        self._many(conn, self._insert_traces, params)

    def _trace_params(
        self, project_id: str, created: Any, rows: Sequence[tuple[Any, ...]]
    ) -> list[tuple[Any, ...]]:
        json, time = self.json, self.time
        return [
            (
                r[0],
                project_id,
                r[1],
                json(r[2]),
                json(r[3]),
                json(r[4]) if r[4] else _EMPTY_OBJECT,
                "[]",
                r[5],
                time(r[6]),
                time(r[7]),
                created,
            )
            for r in rows
        ]

    def insert_traces(
        self, conn: Connection, project_id: str, now: datetime, rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """Rows of (id, name, input, output, metadata, session_id, start_time, end_time)."""
        params = self._trace_params(project_id, self.time(now), rows)
        self._many(conn, self._insert_traces, params)

    def insert_observations(
        self, conn: Connection, project_id: str, rows: Sequence[tuple[Any, ...]]
    ) -> None:
        """Rows in column order of the INSERT up to metadata (the project comes last)."""
        json, time = self.json, self.time
        params = [
            (
                *r[:5],
                time(r[5]),
                time(r[6]),
                json(r[7]),
                json(r[8]),
                r[9],
                json(r[10]),
                *r[11:16],
                json(r[16]) if r[16] else _EMPTY_OBJECT,
                project_id,
            )
            for r in rows
        ]
        self._many(conn, self._insert_observations, params)

    def insert_scores(
        self,
        conn: Connection,
        project_id: str,
        experiment_id: str | None,
        rows: Sequence[tuple[Any, ...]],
        now: datetime | None = None,
    ) -> None:
        """Score rows of (result_id, name, data_type, numeric_value, string_value, passed,
        reason, source, evaluator_id, evaluator_version, cost, tokens_in, tokens_out,
        latency_ms, metadata), each given a new id, created and updated ``now``."""
        json = self.json
        stamp = self.time(now or utcnow())
        ids = sequential_ids(len(rows))
        bits = not self.pg
        params = [
            (
                ids[i],
                project_id,
                experiment_id,
                *r[:5],
                +r[5] if bits and r[5] is not None else r[5],  # passed, as in ``record``
                *r[6:14],
                json(r[14]) if r[14] else _EMPTY_OBJECT,
                stamp,
                stamp,
            )
            for i, r in enumerate(rows)
        ]
        self._many(conn, self._insert_scores, params)
