"""The bulk item path: identifiers made in bulk, rows inserted in batches."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy.dialects import sqlite

from assay.domain import ItemCreate
from assay.errors import InvalidInput
from assay.ids import new_id
from assay.store.bulk import ItemWriter, insert_sql, item_batch, new_ids
from assay.store.db import SQLITE_BULK_CACHE_KIB, SQLITE_CACHE_KIB
from assay.store.item_import import RowBuilder, RowSpec


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
    assert ids == sorted(ids)  # inserted in this order, they append to the id index


def test_new_ids_of_nothing() -> None:
    assert new_ids(0) == []


class FakeDriver:
    """The driver connection under the fake: records the statements it runs."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def cursor(self) -> FakeDriver:
        return self

    def execute(self, sql: str) -> None:
        self.statements.append(sql)

    def close(self) -> None:
        pass


class FakeConnection:
    """Records inserts; fails on a chosen call."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.dialect = sqlite.dialect()
        self.fail_on = fail_on
        self.calls: list[int] = []
        self.rows: list[list[tuple[Any, ...]]] = []
        self.driver = FakeDriver()
        self.connection = SimpleNamespace(dbapi_connection=self.driver)

    def exec_driver_sql(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        self.calls.append(len(rows))
        self.rows.append(rows)
        if self.fail_on == len(self.calls):
            raise RuntimeError("disk full")


SHARED = {
    "dataset_id": "ds",
    "valid_from": 1,
    "archived": False,
    "created_at": datetime(2026, 1, 1, tzinfo=UTC),
    "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
}


def writer(conn: FakeConnection) -> ItemWriter:
    return ItemWriter(
        conn,  # type: ignore[arg-type]
        dataset_id="ds",
        version=1,
        now=datetime(2026, 1, 1, tzinfo=UTC),
        batch_size=5_000,
    )


def built(n: int, batch_size: int = 3, first: int = 1) -> RowBuilder:
    items = [(first + k, ItemCreate(input=f"q{k}")) for k in range(n)]
    return RowBuilder(RowSpec("ds", None, None, 0), items, batch_size=batch_size)


def test_rows_are_built_and_inserted_in_batches() -> None:
    conn = FakeConnection()
    w = writer(conn)
    rows = built(10)
    try:
        for batch in rows:
            w.insert(batch)
    finally:
        w.close()
    assert conn.calls == [3, 3, 3, 1]
    assert (w.count, rows.count, rows.sort_order) == (10, 10, 10)
    # Each row ends with its own new id, sorted within its batch (appended to the id index).
    ids = [row[-1] for batch in conn.rows for row in batch]
    assert len(set(ids)) == 10
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert all(batch == sorted(batch) for batch in ([r[-1] for r in b] for b in conn.rows))
    # A write of several batches has the bigger SQLite cache while it lasts.
    assert conn.driver.statements == [
        f"PRAGMA cache_size=-{SQLITE_BULK_CACHE_KIB}",
        f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}",
    ]


def test_a_write_of_one_batch_leaves_the_cache_alone() -> None:
    conn = FakeConnection()
    w = writer(conn)
    for batch in built(1, batch_size=5_000):
        w.insert(batch)
    w.close()
    assert conn.calls == [1]
    assert conn.driver.statements == []


def test_an_insert_error_reaches_the_caller_and_the_cache_is_restored() -> None:
    conn = FakeConnection(fail_on=2)
    w = writer(conn)

    def run() -> None:
        try:
            for batch in built(20):
                w.insert(batch)
        finally:
            w.close()

    with pytest.raises(RuntimeError, match="disk full"):
        run()
    assert len(conn.calls) == 2  # nothing more was sent after the failure
    assert conn.driver.statements[-1] == f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}"


def test_rows_the_database_cannot_hold_are_rejected_with_their_number() -> None:
    items = [(7, ItemCreate(input="q", source_trace_id="t" * 65))]
    rows = RowBuilder(RowSpec("ds", None, None, 0), items)
    with pytest.raises(InvalidInput, match="row 7: cannot store item: source_trace_id is longer"):
        list(rows)


def test_new_ids_spread_their_random_digits() -> None:
    ids = new_ids(4_000)
    assert {value[19] for value in ids} == set("89ab")  # every variant digit occurs
    for position in (15, 16, 17, 20, 21, 22, *range(24, 36)):
        assert len({value[position] for value in ids}) == 16
    assert len({value[:14] for value in ids}) == 1  # one millisecond, version 7


def test_a_column_null_in_every_row_of_a_batch_is_written_by_the_statement() -> None:
    rows = [(f"q{k}", None, None, "{}", "[]", "manual", None, k, k) for k in range(3)]
    nulls, batch = item_batch(rows, ["i0", "i1", "i2"])
    assert nulls == (1, 2, 6)
    assert batch[1] == ("q1", "{}", "[]", "manual", 1, 1, "i1")
    sql = insert_sql(sqlite.dialect(), SHARED, nulls)
    values = sql.split("VALUES (")[1].rstrip(")").split(", ")[-10:]  # after the shared ones
    assert values == ["?", "NULL", "NULL", "?", "?", "?", "NULL", "?", "?", "?"]
    # One row with a value keeps its column for the whole batch.
    mixed = [*rows[:2], ("q2", '"a"', None, "{}", "[]", "manual", "t", 2, 2)]
    nulls, batch = item_batch(mixed)
    assert nulls == (2,)
    assert [len(row) for row in batch] == [9, 9, 9]
    assert batch[2] == ("q2", '"a"', "{}", "[]", "manual", "t", 2, 2, batch[2][-1])
    assert item_batch([])[1] == []  # an empty batch has no rows to write
