"""Write items as CSV, JSON or JSONL, streaming: memory stays flat whatever the dataset size."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from typing import IO, Any, Literal

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


def neutralise(cell: str) -> str:
    """Stop spreadsheets from running a cell as a formula (CSV injection).

    A text cell starting with ``= + - @``, tab or carriage return gets a leading ``'``. Plain
    numbers such as ``-3`` are left alone: spreadsheets read them as numbers, not formulas.
    """
    if cell and cell.startswith(_FORMULA_START) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


_CAREFUL_START = frozenset("{[=+-@\t\r")


def _cell(value: Any) -> str:
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
        _cell(item.input),
        _cell(item.expected_output),
        _cell(item.context),
        _cell(item.metadata) if item.metadata else "",
        _cell(item.tags) if item.tags else "",
        item.source.value,
        neutralise(item.source_trace_id or ""),
        str(item.sort_order),
    ]


def write_csv(items: Iterable[Item], out: IO[bytes]) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    try:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        count = 0
        for chunk in _chunks(items):
            writer.writerows(_csv_row(item) for item in chunk)
            count += len(chunk)
            text.write(buffer.getvalue())
            buffer.seek(0)
            buffer.truncate()
        text.write(buffer.getvalue())
        text.flush()
    finally:
        text.detach()  # leave the caller's stream open
    return count


def write_jsonl(items: Iterable[Item], out: IO[bytes]) -> int:
    count = 0
    dumps = orjson.dumps
    for chunk in _chunks(items):
        out.write(b"".join(dumps(_record(item)) + b"\n" for item in chunk))
        count += len(chunk)
    return count


def write_json(items: Iterable[Item], out: IO[bytes]) -> int:
    """A JSON array written element by element, one item per line."""
    count = 0
    dumps = orjson.dumps
    out.write(b"[")
    for chunk in _chunks(items):
        lead = b"\n" if count == 0 else b",\n"
        out.write(lead + b",\n".join(dumps(_record(item)) for item in chunk))
        count += len(chunk)
    out.write(b"\n]\n" if count else b"]\n")
    return count


def _chunks(items: Iterable[Item]) -> Iterator[list[Item]]:
    chunk: list[Item] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


WRITERS = {"csv": write_csv, "json": write_json, "jsonl": write_jsonl}
