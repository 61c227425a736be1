"""Bulk paths for dataset items: batched inserts and batched reads without per-value type hooks.

Importing or exporting a million items spends most of its time in per-value work, so these paths
serialise JSON once with orjson, format each timestamp once per batch, and hand the driver plain
tuples (``executemany``). The stored values are exactly what the column types would produce.
"""

from __future__ import annotations

import operator
import os
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Dialect, Select, String, Text, cast, literal, type_coerce

from assay.domain import Item, ItemSource
from assay.domain.item_values import NewItem
from assay.errors import InvalidInput
from assay.store.db import SQLITE_BULK_CACHE_KIB, SQLITE_CACHE_KIB
from assay.store.tables import dataset_items

_TRACE_ID_MAX: int = getattr(dataset_items.c.source_trace_id.type, "length", None) or 64
#: A random hex digit as a variant digit (``10xx``: 8, 9, a or b).
_VARIANT = bytes.maketrans(b"0123456789abcdef", b"89ab" * 4)
#: Where an id's random hex digits go: rand_a (after the version 7), then rand_b after the
#: variant digit (position 19).
_RANDOM_DIGITS = (15, 16, 17, 20, 21, 22, *range(24, 36))


def new_ids(count: int) -> list[str]:
    """``count`` UUIDv7 strings (same layout as :func:`assay.ids.new_id`), made in one go.

    They share a millisecond, so they come sorted: rows inserted in this order append to the
    id index instead of landing at random places in its newest pages. The ids are written
    into one buffer, a digit position at a time for all of them (strided copies), and split.
    """
    if count == 0:
        return []
    ms = time.time_ns() // 1_000_000
    stamp = f"{ms & 0xFFFF_FFFF_FFFF:012x}"
    line = f"{stamp[:8]}-{stamp[8:]}-7000-8000-000000000000\n".encode()
    width = len(line)
    out = bytearray(line * count)
    rand = os.urandom(10 * count).hex().encode()  # 20 digits an id: 18, the variant's, 1 spare
    for digit, position in enumerate(_RANDOM_DIGITS):
        out[position::width] = rand[digit::20]
    out[19::width] = rand[18::20].translate(_VARIANT)
    ids = out.decode().split("\n")
    ids.pop()  # after the last newline
    ids.sort()
    return ids


#: Columns every row of one write shares, written into the statement as literals.
_SHARED_COLUMNS = ("dataset_id", "valid_from", "archived", "created_at", "updated_at")
#: Columns bound per row: :func:`item_row`'s rows, then the id.
_ROW_COLUMNS = (
    "input",
    "expected_output",
    "context",
    "metadata",
    "tags",
    "source",
    "source_trace_id",
    "sort_order",
    "input_key",
    "id",
)
_JSON_COLUMNS = frozenset({"input", "expected_output", "context", "metadata", "tags"})
#: Where :func:`item_row`'s rows hold the columns often NULL in a whole batch (expected
#: output, context, source trace).
_NULLABLE = (1, 2, 6)

#: A batch as :meth:`ItemWriter.insert` takes it: the positions of the columns NULL in every
#: row (left out of the rows), and the rows, each ending with its id.
Batch = tuple[tuple[int, ...], list[tuple[Any, ...]]]


def insert_sql(dialect: Dialect, shared: dict[str, Any], nulls: tuple[int, ...] = ()) -> str:
    """The INSERT of one write's rows: ``shared`` values (see ``_SHARED_COLUMNS``) rendered
    as literals, the columns at ``nulls`` as NULL, the others bound per row. Fewer parameters
    a row: less binding work."""
    mark = "?" if dialect.name == "sqlite" else "%s"
    pg = dialect.name == "postgresql"
    columns = dataset_items.c
    values = [
        str(
            literal(shared[name], columns[name].type).compile(
                dialect=dialect, compile_kwargs={"literal_binds": True}
            )
        )
        for name in _SHARED_COLUMNS
    ]
    values += [
        "NULL" if k in nulls else f"{mark}::jsonb" if pg and c in _JSON_COLUMNS else mark
        for k, c in enumerate(_ROW_COLUMNS)
    ]
    names = (*_SHARED_COLUMNS, *_ROW_COLUMNS)
    return f"INSERT INTO {dataset_items.name} ({', '.join(names)}) VALUES ({', '.join(values)})"


def item_batch(rows: Sequence[tuple[Any, ...]], ids: Sequence[str] | None = None) -> Batch:
    """Rows :func:`item_row` built as :meth:`ItemWriter.insert` takes them, each with its id
    appended (new ones unless ``ids``), in C. A column that is NULL in every row is left out
    of the rows and written as NULL by the statement: the sqlite3 module looks up an adapter
    for every None it binds, which costs a million-row import about 0.4 s per such column."""
    if ids is None:
        ids = new_ids(len(rows))
    size = len(rows)
    column = operator.itemgetter
    nulls = tuple(k for k in _NULLABLE if list(map(column(k), rows)).count(None) == size)
    kept: Iterable[tuple[Any, ...]] = rows
    if nulls and size:
        kept = map(column(*(k for k in range(len(rows[0])) if k not in nulls)), rows)
    return nulls, list(map(operator.add, kept, zip(ids)))


_dumps = orjson.dumps
_SORTED = orjson.OPT_SORT_KEYS
_MANUAL = ItemSource.manual.value  # the source of an item that names none
_NUL = "\\u0000"  # how orjson writes a NUL character
_NUL_MESSAGE = "text contains a NUL character (\\u0000), which cannot be stored"


def item_row(
    item: NewItem, sort_order: int, number: int, key: Callable[[bytes], int]
) -> tuple[Any, ...]:
    """The row of a new item as :class:`ItemWriter` inserts it, without its id (``key``: the
    dataset's :meth:`~assay.store.item_rows.InputKeys.of_canonical`); raises
    :class:`InvalidInput` naming row ``number`` when the database cannot hold it."""
    fields = item if item.__class__ is dict else item.__dict__
    get = fields.get
    value = fields["input"]
    expected = get("expected_output")
    context = get("context")
    metadata = get("metadata")
    tags = get("tags")
    source = get("source")
    trace = get("source_trace_id")
    try:
        if trace is not None:
            if "\x00" in trace:
                raise ValueError("source_trace_id contains a NUL character")
            if len(trace) > _TRACE_ID_MAX:
                raise ValueError(f"source_trace_id is longer than {_TRACE_ID_MAX} characters")
        raw = _dumps(value)
        text = raw.decode()
        expected_text = None if expected is None else _dumps(expected).decode()
        context_text = None if context is None else _dumps(context).decode()
        metadata_text = _dumps(metadata).decode() if metadata else "{}"
        tags_text = _dumps(tags).decode() if tags else "[]"
        if (
            _NUL in text
            or _NUL in metadata_text
            or _NUL in tags_text
            or (expected_text is not None and _NUL in expected_text)
            or (context_text is not None and _NUL in context_text)
        ):
            raise ValueError(_NUL_MESSAGE)
        # Text input is its own canonical JSON; an object's keys are sorted for its key.
        input_key = key(raw if value.__class__ is str else _dumps(value, option=_SORTED))
    except (ValueError, TypeError) as exc:  # orjson.JSONEncodeError is a TypeError
        raise InvalidInput(f"row {number}: cannot store item: {exc}", row=number) from None
    return (
        text,
        expected_text,
        context_text,
        metadata_text,
        tags_text,
        _MANUAL if source is None else source._value_,
        trace,
        sort_order,
        input_key,
    )


class ItemWriter:
    """Inserts new item rows for one dataset version in batches.

    Batches are inserted in the caller's thread. (A background insert thread overlapped
    little: the drivers hold the GIL while they bind each row, so the two threads traded it
    row by row, and the import took more CPU and more wall time than without it. A large
    file's rows are built by another process instead: ``assay.io.import_process``.) On SQLite,
    a write of more than one batch gets a larger page cache until :meth:`close`; always call
    :meth:`close`.
    """

    def __init__(
        self,
        conn: Connection,
        *,
        dataset_id: str,
        version: int,
        now: datetime,
        batch_size: int = 5_000,
    ) -> None:
        self.conn = conn
        shared = {
            "dataset_id": dataset_id,
            "valid_from": version,
            "archived": False,
            "created_at": now,
            "updated_at": now,
        }
        self._shared = shared
        self._sql: dict[tuple[int, ...], str] = {}  # by the batch's NULL columns
        self.batch_size = batch_size
        self.count = 0
        self._batches = 0
        self._bulk = False  # the SQLite cache is enlarged

    def write(self, rows: Sequence[tuple[Any, ...]], ids: Sequence[str]) -> None:
        """Insert rows :func:`item_row` built, each with its id, in batches."""
        size = self.batch_size
        if len(rows) > size:
            self._enlarge()
        for k in range(0, len(rows), size):
            self._execute(item_batch(rows[k : k + size], ids[k : k + size]))

    def insert(self, batch: Batch) -> None:
        """Insert one batch :func:`item_batch` made."""
        self._batches += 1
        if self._batches > 1:
            self._enlarge()
        self._execute(batch)

    def _execute(self, batch: Batch) -> None:
        nulls, rows = batch
        sql = self._sql.get(nulls)
        if sql is None:
            sql = self._sql[nulls] = insert_sql(self.conn.dialect, self._shared, nulls)
        self.conn.exec_driver_sql(sql, rows)
        self.count += len(rows)

    def _enlarge(self) -> None:
        if not self._bulk and self.conn.dialect.name == "sqlite":
            self._bulk = True
            self._cache(SQLITE_BULK_CACHE_KIB)

    def close(self) -> None:
        """Give the connection back its usual cache (also after a failed write)."""
        if self._bulk:
            self._bulk = False
            self._cache(SQLITE_CACHE_KIB)

    def _cache(self, kib: int) -> None:
        """Size SQLite's page cache, on the driver's connection: it answers even when a failed
        statement has left the SQLAlchemy connection unusable."""
        raw = self.conn.connection.dbapi_connection
        if raw is not None:
            cursor = raw.cursor()
            try:
                cursor.execute(f"PRAGMA cache_size=-{kib}")
            finally:
                cursor.close()


# ---------------------------------------------------------------------------------- reads

_READ_COLUMNS = (
    "id",
    "dataset_id",
    "valid_from",
    "input",
    "expected_output",
    "context",
    "metadata",
    "tags",
    "source",
    "source_trace_id",
    "sort_order",
    "archived",
    "created_at",
    "updated_at",
)
_RAW = frozenset({*_JSON_COLUMNS, "created_at", "updated_at"})


def raw_item_columns(dialect: str) -> list[Any]:
    """Item columns as the driver returns them, JSON as text (orjson decodes it faster)."""
    columns: list[Any] = []
    for name in _READ_COLUMNS:
        column = dataset_items.c[name]
        if name in _JSON_COLUMNS and dialect == "postgresql":
            columns.append(cast(column, Text).label(name))
        elif name in _RAW:
            columns.append(type_coerce(column, String()).label(name))
        else:
            columns.append(column)
    return columns


class _Timestamps:
    """Parses SQLite's ISO-8601 text; rows of one import share a stamp, so cache recent ones."""

    def __init__(self) -> None:
        self.cache: dict[str, datetime] = {}

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        parsed = self.cache.get(value)
        if parsed is None:
            if len(self.cache) > 1024:
                self.cache.clear()
            parsed = self.cache[value] = datetime.fromisoformat(value)
        return parsed


_SOURCES = {s.value: s for s in ItemSource}
_ITEM_FIELDS = frozenset(Item.model_fields)
_set = object.__setattr__


def _trusted_item(values: dict[str, Any]) -> Item:
    """An Item from a stored row, which was validated on the way in.

    This is what ``Item.model_construct`` does, without its per-field loop; it matters when
    exporting millions of rows. ``values`` must hold every field with its final type.
    """
    item = Item.__new__(Item)
    _set(item, "__dict__", values)
    _set(item, "__pydantic_fields_set__", set(_ITEM_FIELDS))
    _set(item, "__pydantic_extra__", None)
    _set(item, "__pydantic_private__", None)
    return item


def fetch_items(conn: Connection, query: Select[Any]) -> list[Item]:
    """Run an item query (``query`` selects from dataset_items) and build Items."""
    load = _loads
    stamp = _Timestamps()
    columns = raw_item_columns(conn.dialect.name)
    result = conn.execute(query.with_only_columns(*columns))
    try:
        # Plain DBAPI tuples: every column is already raw, so Row objects would only cost time.
        rows: Sequence[Any] = result.cursor.fetchall()
    finally:
        result.close()
    sources = _SOURCES
    return [
        _trusted_item(
            {
                "id": r[0],
                "dataset_id": r[1],
                "version": r[2],
                "input": load(r[3]),
                "expected_output": load(r[4]),
                "context": load(r[5]),
                "metadata": load(r[6]),
                "tags": load(r[7]),
                "source": sources[r[8]],
                "source_trace_id": r[9],
                "sort_order": r[10],
                "archived": bool(r[11]),
                "created_at": stamp(r[12]),
                "updated_at": stamp(r[13]),
            }
        )
        for r in rows
    ]


def _loads(value: str | None) -> Any:
    return None if value is None else orjson.loads(value)
