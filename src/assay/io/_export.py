"""Write dataset items as CSV, JSON or JSONL, streaming: memory stays flat whatever the size.

The CSV cell rules (:func:`cell`, :func:`neutralise`) and the streaming writers are shared with
the export of run results (:mod:`assay.io._results`).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import IO, Any, Literal, TypeVar

import orjson

from assay.domain import Item

Format = Literal["csv", "json", "jsonl"]

#: Export columns, in order. ``id`` and ``source`` are informative; import drops them.
CSV_COLUMNS = (
    "id",
    "input",
    "expected_output",
    "context",
    "metadata",
    "tags",
    "source",
    "source_trace_id",
    "sort_order",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?")
_CHUNK = 1_000
T = TypeVar("T")


def _record(item: Item) -> dict[str, Any]:
    return {
        "id": item.id,
        "input": item.input,
        "expected_output": item.expected_output,
        "context": item.context,
        "metadata": item.metadata,
        "tags": item.tags,
        "source": item.source.value,
        "source_trace_id": item.source_trace_id,
        "sort_order": item.sort_order,
    }


def neutralise(text: str) -> str:
    """Stop spreadsheets from running a cell as a formula (CSV injection).

    A text cell starting with ``= + - @``, tab or carriage return gets a leading ``'``. Plain
    numbers such as ``-3`` are left alone: spreadsheets read them as numbers, not formulas.
    """
    if text and text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


_CAREFUL_START = frozenset("{[=+-@\t\r")


def cell(value: Any) -> str:
    """Text stays text unless it would read back as JSON; everything else is written as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        first = value[:1]
        if first not in _CAREFUL_START and not first.isspace():
            return str(value)  # the common case: nothing to quote or neutralise
        if value.lstrip()[:1] in ("{", "["):
            return neutralise(orjson.dumps(value).decode())
        return neutralise(value)
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()  # starts with { or [: never a formula
    return neutralise(orjson.dumps(value).decode())


def _csv_row(item: Item) -> list[str]:
    return [
        item.id,
        cell(item.input),
        cell(item.expected_output),
        cell(item.context),
        cell(item.metadata) if item.metadata else "",
        cell(item.tags) if item.tags else "",
        item.source.value,
        neutralise(item.source_trace_id or ""),
        str(item.sort_order),
    ]


def write_csv(items: Iterable[Item], out: IO[bytes]) -> int:
    return write_chunks(csv_chunks(CSV_COLUMNS, _csv_row, items), out)


def write_jsonl(items: Iterable[Item], out: IO[bytes]) -> int:
    return write_chunks(jsonl_chunks(_record, items), out)


def write_json(items: Iterable[Item], out: IO[bytes]) -> int:
    """A JSON array written element by element, one item per line."""
    return write_chunks(json_chunks(_record, items), out)


def write_chunks(chunks: Iterable[tuple[bytes, int]], out: IO[bytes]) -> int:
    """Write ``(bytes, rows)`` chunks to ``out``; returns the rows written."""
    count = 0
    for data, rows in chunks:
        out.write(data)
        count += rows
    return count


# The three streaming formats, shared by every export (dataset items, run results): each
# yields ``(bytes, rows in them)`` one chunk of rows at a time, so memory stays flat.


def csv_chunks(
    header: Sequence[str], row: Callable[[T], list[str]], records: Iterable[T]
) -> Iterator[tuple[bytes, int]]:
    """CSV with CRLF line ends; ``row`` must return cells already made safe with :func:`cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for chunk in _chunks(records):
        writer.writerows(row(record) for record in chunk)
        yield buffer.getvalue().encode(), len(chunk)
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue().encode(), 0


def jsonl_chunks(record: Callable[[T], Any], records: Iterable[T]) -> Iterator[tuple[bytes, int]]:
    dumps = orjson.dumps
    for chunk in _chunks(records):
        yield b"".join(dumps(record(r)) + b"\n" for r in chunk), len(chunk)


def json_chunks(record: Callable[[T], Any], records: Iterable[T]) -> Iterator[tuple[bytes, int]]:
    """A JSON array written element by element, one element per line."""
    count = 0
    dumps = orjson.dumps
    yield b"[", 0
    for chunk in _chunks(records):
        lead = b"\n" if count == 0 else b",\n"
        yield lead + b",\n".join(dumps(record(r)) for r in chunk), len(chunk)
        count += len(chunk)
    yield (b"\n]\n" if count else b"]\n"), 0


def _chunks(items: Iterable[T]) -> Iterator[list[T]]:
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


WRITERS = {"csv": write_csv, "json": write_json, "jsonl": write_jsonl}
