"""The bulk item path: identifiers made in bulk, batches inserted in the background."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.dialects import sqlite

from assay.domain import ItemCreate
from assay.errors import InvalidInput
from assay.ids import new_id
from assay.store.bulk import ItemWriter, new_ids


def test_new_ids_are_uuid7_strings_like_new_id() -> None:
    ids = new_ids(2_000)
    assert len(set(ids)) == 2_000
    for value in ids:
        parsed = uuid.UUID(value)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == value
    # Same millisecond prefix layout as single ids, so bulk and single rows sort together.
    assert ids[0][:13] <= new_id()[:13]


def test_new_ids_of_nothing() -> None:
    assert new_ids(0) == []


class FakeConnection:
    """Records inserts; fails on a chosen call; detects overlapping calls."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.dialect = sqlite.dialect()
        self.fail_on = fail_on
        self.calls: list[int] = []
        self.busy = False
        self.overlapped = False
        self.threads: set[str] = set()

    def exec_driver_sql(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        if self.busy:
            self.overlapped = True
        self.busy = True
        self.threads.add(threading.current_thread().name)
        try:
            time.sleep(0.01)  # let the caller run ahead and try to overlap
            self.calls.append(len(rows))
            if self.fail_on == len(self.calls):
                raise RuntimeError("disk full")
        finally:
            self.busy = False


def writer(conn: FakeConnection, batch_size: int = 3) -> ItemWriter:
    return ItemWriter(
        conn,  # type: ignore[arg-type]
        dataset_id="ds",
        version=1,
        now=datetime(2026, 1, 1, tzinfo=UTC),
        batch_size=batch_size,
    )


def test_batches_are_inserted_in_the_background_one_at_a_time() -> None:
    conn = FakeConnection()
    w = writer(conn)
    try:
        for n in range(10):
            w.add(ItemCreate(input=f"q{n}"), n, n + 1)
        w.finish()
    finally:
        w.close()
    assert conn.calls == [3, 3, 3, 1]
    assert w.count == 10
    assert not conn.overlapped
    # Full batches go to the background thread; the remainder is written by the caller.
    assert conn.threads == {"assay-import_0", threading.current_thread().name}


def test_a_write_smaller_than_a_batch_starts_no_thread() -> None:
    conn = FakeConnection()
    w = writer(conn, batch_size=5_000)
    w.add(ItemCreate(input="one"), 0, 1)
    w.finish()
    w.close()
    assert conn.calls == [1]
    assert conn.threads == {threading.current_thread().name}


def test_an_insert_error_reaches_the_caller() -> None:
    conn = FakeConnection(fail_on=2)
    w = writer(conn)

    def run() -> None:
        try:
            for n in range(20):
                w.add(ItemCreate(input=f"q{n}"), n, n + 1)
            w.finish()
        finally:
            w.close()

    with pytest.raises(RuntimeError, match="disk full"):
        run()
    assert len(conn.calls) == 2  # nothing more was sent after the failure
    assert not conn.busy


def test_close_waits_for_the_insert_in_flight() -> None:
    conn = FakeConnection()
    w = writer(conn)
    for n in range(3):
        w.add(ItemCreate(input=f"q{n}"), n, n + 1)  # the third add hands off a batch
    w.close()
    assert conn.calls == [3]
    assert not conn.busy


def test_rows_the_database_cannot_hold_are_rejected_with_their_number() -> None:
    w = writer(FakeConnection())
    with pytest.raises(InvalidInput, match="row 7: cannot store item: source_trace_id is longer"):
        w.add(ItemCreate(input="q", source_trace_id="t" * 65), 0, 7)
    w.close()
