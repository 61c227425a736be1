"""Many new items as one dataset version: the batched import loop and matching by content.

An import (CSV, JSON, JSONL rows, the REST bulk payload), a sync of an inline list and items
made from traces all append new item states through :func:`write_items`, which checks each
item against the dataset's schemas, gives it a sort order (:class:`RowBuilder`) and inserts
the rows in batches (``store/bulk.py``) inside the caller's write transaction, so an error
rolls back everything. :func:`insert_rows` inserts rows another process built the same way
(a large file's import, ``assay.io.import_process``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from sqlalchemy import Connection, Row, Text, cast, select, text, update

from assay.domain import item_content_hash
from assay.domain.item_values import NewItem, item_fields, new_item_hash
from assay.interpreter import relaxed_gc
from assay.store.bulk import Batch, ItemWriter, item_batch, item_row
from assay.store.db import Database
from assay.store.item_rows import InputKeys, SchemaCheck, alive_at
from assay.store.sql import driver_cursor
from assay.store.tables import dataset_items
from assay.store.types import utcnow

ANALYZE_AFTER = 10_000  # imported rows after which PostgreSQL statistics are refreshed


@dataclass(frozen=True)
class RowSpec:
    """What building a dataset version's item rows needs of the dataset (read under the write
    lock): its id (the input keys' prefix), schemas and next free sort order."""

    dataset_id: str
    input_schema: Any
    expected_output_schema: Any
    next_sort_order: int

    @classmethod
    def of(cls, row: Row[Any]) -> RowSpec:
        return cls(row.id, row.input_schema, row.expected_output_schema, row.next_sort_order)


class RowBuilder:
    """Numbered items (row number, item) as the rows :class:`~assay.store.bulk.ItemWriter`
    inserts, a batch at a time: each checked against the dataset's schemas, given a sort
    order continuing after the dataset's (with ``own_sort_order``, an item's own, when it sets
    one) and a new id. Once consumed, ``count`` and ``sort_order`` (the next free one) are
    set."""

    def __init__(
        self,
        spec: RowSpec,
        items: Iterable[tuple[int, NewItem]],
        *,
        batch_size: int = 5_000,
        own_sort_order: bool = True,
    ) -> None:
        self.spec = spec
        self.items = items
        self.batch_size = batch_size
        self.own_sort_order = own_sort_order
        self.count = 0
        self.sort_order = spec.next_sort_order

    def __iter__(self) -> Iterator[Batch]:
        checker = SchemaCheck(self.spec)
        check = checker.check if checker.input or checker.expected else None
        key = InputKeys(self.spec.dataset_id).of_canonical
        own, size = self.own_sort_order, self.batch_size
        sort_order = self.sort_order
        rows: list[tuple[Any, ...]] = []
        with relaxed_gc():  # each item's row survives until its batch is inserted
            for number, item in self.items:
                if check is not None:
                    check(item, number)
                order = item_fields(item).get("sort_order") if own else None
                if order is None:
                    rows.append(item_row(item, sort_order, number, key))
                    sort_order += 1
                else:
                    rows.append(item_row(item, order, number, key))
                    sort_order = max(sort_order, order + 1)
                if len(rows) >= size:
                    self.count += len(rows)
                    self.sort_order = sort_order
                    yield item_batch(rows)
                    rows = []
        self.count += len(rows)
        self.sort_order = sort_order
        if rows:
            yield item_batch(rows)


class BuiltRows(Protocol):
    """Batches of item rows as :class:`RowBuilder` makes them; ``count`` and ``sort_order``
    once every batch is taken."""

    count: int
    sort_order: int

    def __iter__(self) -> Iterator[Batch]: ...


def insert_rows(conn: Connection, row: Row[Any], version: int, built: BuiltRows) -> tuple[int, int]:
    """Insert ``built`` rows as new states of ``version`` of the dataset ``row`` (read under
    the write lock). Returns (items written, the next free sort order). An error raised while
    the rows are built leaves the caller's transaction to roll back."""
    writer = ItemWriter(conn, dataset_id=row.id, version=version, now=utcnow())
    try:
        # Each batch's rows (another process's: unmarshalled) live until they are inserted.
        with relaxed_gc():
            for batch in built:
                writer.insert(batch)
    finally:
        writer.close()  # no insert may still be running when the transaction ends
    return built.count, built.sort_order


def write_items(
    conn: Connection,
    row: Row[Any],
    version: int,
    items: Iterable[tuple[int, NewItem]],
    *,
    batch_size: int = 5_000,
    own_sort_order: bool = True,
) -> tuple[int, int]:
    """Insert numbered items (row number, item) as new states of ``version`` of the dataset
    ``row`` (read under the write lock). Returns (items written, the next free sort order).

    Items get sort orders continuing after the dataset's; with ``own_sort_order`` an item's
    own ``sort_order``, when it sets one, is kept instead. ``items`` may be a lazy stream: an
    error it raises, or a schema check's, leaves the caller's transaction to roll back.
    """
    built = RowBuilder(RowSpec.of(row), items, batch_size=batch_size, own_sort_order=own_sort_order)
    return insert_rows(conn, row, version, built)


def refresh_statistics(db: Database, written: int) -> None:
    """After a large import on PostgreSQL, fresh planner statistics, so item pages of the
    grown table keep using the index. Runs in its own transaction, after the import's."""
    if written >= ANALYZE_AFTER and db.dialect == "postgresql":
        with db.write() as conn:
            conn.execute(text("ANALYZE dataset_items"))


def match_content(
    conn: Connection,
    dataset_id: str,
    items: Sequence[NewItem],
    keys: Sequence[str] | None,
) -> tuple[list[int], list[tuple[int, bool]]]:
    """Match ``items`` with the dataset's current items by content (input, expected output,
    context, metadata, tags; ``keys`` are the items' content hashes when the caller has them).

    Returns the positions in ``items`` with no current match, and the current states that
    matched no item as (row id, archived). Equal items match one current state each, in
    dataset order.
    """
    by_hash: dict[str, list[tuple[int, bool]]] = {}
    for key, state in _current_content(conn, dataset_id):
        by_hash.setdefault(key, []).append(state)
    if keys is None:
        keys = [new_item_hash(item_fields(i)) for i in items]
    new: list[int] = []
    for position, key in enumerate(keys):
        kept = by_hash.get(key)
        if kept:
            kept.pop(0)
        else:
            new.append(position)
    gone = [state for states in by_hash.values() for state in states]
    return new, gone


def _current_content(conn: Connection, dataset_id: str) -> Iterator[tuple[str, tuple[int, bool]]]:
    """The content hash and (row id, archived) of each current item, in dataset order.

    The five JSON columns are read as the driver's text and decoded as one array (the same
    values as decoding each column), without per-value type processing.
    """
    c = dataset_items.c
    pg = conn.dialect.name == "postgresql"
    content = [
        cast(column, Text) if pg else column
        for column in (c.input, c.expected_output, c.context, c.metadata, c.tags)
    ]
    query = (
        select(c.row_id, c.archived, *content)
        .where(c.dataset_id == dataset_id, alive_at(None))
        .order_by(c.sort_order, c.id)
    )
    loads = orjson.loads
    with driver_cursor(conn, query) as cursor:
        for row_id, archived, value, expected, context, metadata, tags in cursor:
            values = loads(f"[{value},{expected or 'null'},{context or 'null'},{metadata},{tags}]")
            key = item_content_hash(*values)
            yield key, (row_id, bool(archived))


def close_states(conn: Connection, row_ids: list[int], version: int) -> None:
    """End the given item states at ``version``."""
    conn.execute(
        update(dataset_items).where(dataset_items.c.row_id.in_(row_ids)).values(valid_to=version)
    )
