"""Read items from CSV, one row at a time.

Rows are numbered as a spreadsheet shows them: the header is row 1. Columns map to item fields
by name (``input``, ``input.query``, ``expected_output.answer``, ``metadata.category``, ``tags``,
...), by an explicit mapping, or by the fallback rule: a column that names no field goes to
``input.<column>`` when no column sets ``input``, and to ``metadata.<column>`` otherwise.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, Any

import orjson
from pydantic import ValidationError

from assay.domain import ItemSource, RunItemCreate
from assay.domain.item_values import WS, NewItem, strip_ws
from assay.errors import InvalidInput, from_validation
from assay.io._fields import (
    IGNORED,
    NESTABLE,
    Path,
    check_item,
    check_mapping,
    dotted,
    find_conflict,
    parse_target,
    set_path,
)

_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_TAG_SPLIT = re.compile(r"[,;]")
#: Long contexts (whole documents) are legitimate cells; the csv module's default is 128 KiB.
_FIELD_LIMIT = 64 * 1024 * 1024


class _CellError(ValueError):
    pass


def json_or_text(cell: str) -> Any:
    """A cell that starts with ``{`` or ``[`` is JSON; any other cell is text."""
    first = cell[0]
    if first.isspace():
        stripped = cell.lstrip()
        first = stripped[:1]
    if first == "{" or first == "[":
        try:
            return orjson.loads(cell)
        except orjson.JSONDecodeError as exc:
            raise _CellError(f"invalid JSON cell: {exc}") from None
    return cell


def _tags(cell: str) -> Any:
    if cell.lstrip().startswith("["):
        value = json_or_text(cell)
        if not all(isinstance(t, str) for t in value):
            raise _CellError("tags must be a JSON array of strings or a comma-separated list")
        return [t.strip(WS) for t in value]  # as the validator strips them
    if "," not in cell and ";" not in cell:
        return [cell.strip()]  # one tag; the caller skips empty cells
    parts = cell.split(",") if ";" not in cell else _TAG_SPLIT.split(cell)
    return [t for t in map(str.strip, parts) if t]


def _integer(cell: str) -> int:
    try:
        return int(cell)
    except ValueError:
        raise _CellError(f"not an integer: {cell.strip()!r}") from None


def _text(cell: str) -> str:
    return cell


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "tags": _tags,
    "sort_order": _integer,
    "source_trace_id": _text,
}


@dataclass(frozen=True)
class _Column:
    index: int
    name: str
    path: Path
    convert: Callable[[str], Any]


def plan_columns(header: list[str], mapping: Mapping[str, str] | None) -> list[_Column]:
    """Decide where every column goes, rejecting headers that cannot import cleanly."""
    explicit = check_mapping(mapping or {})
    names = [h.strip() for h in header]
    seen: dict[str, int] = {}
    for i, name in enumerate(names, start=1):
        if not name:
            raise InvalidInput(f"row 1: column {i} has no name", field="header", row=1)
        if name in seen:
            raise InvalidInput(
                f'row 1: duplicate column "{name}" (columns {seen[name]} and {i})',
                field=name,
                row=1,
            )
        seen[name] = i
    unknown = sorted(set(explicit) - set(names))
    if unknown:
        raise InvalidInput(
            f'mapping names column "{unknown[0]}", which is not in the header ({", ".join(names)})',
            field="map",
        )
    targets: dict[int, Path | None] = {}
    unmapped: list[int] = []
    for i, name in enumerate(names):
        if name in explicit:
            targets[i] = explicit[name]
        elif (path := parse_target(name)) is not None:
            targets[i] = path
        elif name in IGNORED:
            targets[i] = None
        else:
            unmapped.append(i)
    has_input = any(p is not None and p[0] == "input" for p in targets.values())
    fallback = "metadata" if has_input else "input"
    for i in unmapped:
        targets[i] = (fallback, names[i])
    if not any(p is not None and p[0] == "input" for p in targets.values()):
        raise InvalidInput(
            "row 1: no column sets input: add an 'input' column (or input.<key> columns), "
            "or map one with COLUMN=input",
            field="input",
            row=1,
        )
    placed = [(names[i], p) for i, p in targets.items() if p is not None]
    conflict = find_conflict(placed)
    if conflict is not None:
        a, b, path = conflict
        raise InvalidInput(
            f'row 1: columns "{a}" and "{b}" both set {dotted(path)}', field=b, row=1
        )
    columns = []
    for i, path in sorted(targets.items()):
        if path is None:
            continue
        convert = json_or_text if path[0] in NESTABLE else _CONVERTERS[path[0]]
        columns.append(_Column(i, names[i], path, convert))
    return columns


def _lines(stream: IO[bytes], position: list[int]) -> Iterator[str]:
    """Decode the file line by line so an encoding error names its row."""
    first = True
    for raw in stream:
        if first:
            first = False
            if raw.startswith(_UTF16_BOMS):
                raise InvalidInput(
                    "row 1: the file is UTF-16 encoded; save it as UTF-8", field="encoding", row=1
                )
            if raw.startswith(_BOM):
                raw = raw[len(_BOM) :]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            row = position[0] + 1
            raise InvalidInput(
                f"row {row}: not valid UTF-8 (byte 0x{raw[exc.start]:02x} at position "
                f"{exc.start + 1} of the line); save the file as UTF-8",
                field="encoding",
                row=row,
            ) from None
        if "\x00" in line:
            row = position[0] + 1
            raise InvalidInput(
                f"row {row}: contains a NUL character, which no text cell may hold",
                field="file",
                row=row,
            )
        yield line


def _malformed(exc: csv.Error) -> str:
    """``csv``'s complaint, in the user's terms."""
    if "new-line character seen in unquoted field" in str(exc):
        return (
            "malformed CSV: a bare carriage return (\\r) outside quotes; save the file with "
            "\\n or \\r\\n line endings, or quote the cell"
        )
    return f"malformed CSV: {exc}"


def csv_rows(stream: IO[bytes]) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header, and the data rows as ``(row number, cells)``, read lazily.

    The one CSV reader of every upload (dataset imports, run outputs): UTF-8 with or without a
    byte-order mark, rows numbered as a spreadsheet shows them (the header is row 1), blank rows
    skipped, and a row with more or fewer cells than the header an error.
    """
    if csv.field_size_limit() < _FIELD_LIMIT:
        csv.field_size_limit(_FIELD_LIMIT)
    position = [0]  # rows read so far, for errors raised while decoding
    reader = csv.reader(_lines(stream, position), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise InvalidInput(f"row 1: {_malformed(exc)}", field="header", row=1) from None
    if header is None:
        raise InvalidInput("the file is empty: a CSV needs a header row", field="file", row=1)
    position[0] = 1
    return header, _data_rows(reader, len(header), position)


def _data_rows(
    reader: Iterator[list[str]], width: int, position: list[int]
) -> Iterator[tuple[int, list[str]]]:
    row = 1
    try:
        for cells in reader:
            row += 1
            position[0] = row
            if len(cells) != width:
                if not cells or not any(c.strip() for c in cells):
                    continue  # blank line or a row of empty cells
                raise InvalidInput(
                    f"row {row}: expected {width} cells (one per header column), "
                    f"found {len(cells)}",
                    field="file",
                    row=row,
                )
            yield row, cells
    except csv.Error as exc:  # only the reader raises it: the row after the last one read
        raise InvalidInput(f"row {row + 1}: {_malformed(exc)}", field="file", row=row + 1) from None


def read_csv(
    stream: IO[bytes], mapping: Mapping[str, str] | None = None
) -> Iterator[tuple[int, NewItem]]:
    """Yield ``(row number, new item)`` for every data row; raise on the first bad row."""
    header, rows = csv_rows(stream)
    columns = plan_columns(header, mapping)
    return _items(rows, columns)


def _items(
    rows: Iterator[tuple[int, list[str]]], columns: list[_Column]
) -> Iterator[tuple[int, NewItem]]:
    fast = _fast_plan(columns)
    row = 1
    count = 0
    for row, cells in rows:
        if fast is None:
            data = _row_data(row, cells, columns)
            plain = False
        else:
            data, plain = _fast_row(row, cells, fast)
        if not data and not any(c.strip() for c in cells):
            continue  # every cell empty (an ignored column's text still makes a row)
        count += 1
        yield row, data if plain else _validate(data, row, columns)
    if count == 0:
        raise InvalidInput(
            "no items: the CSV has a header row but no data rows", field="file", row=row
        )


def _cell_error(row: int, name: str, exc: _CellError) -> InvalidInput:
    return InvalidInput(f'row {row}, column "{name}": {exc}', field=name, row=row)


def _row_data(row: int, cells: list[str], columns: list[_Column]) -> dict[str, Any]:
    """A row's cells placed at their targets, as parsed (the validator finishes them)."""
    data: dict[str, Any] = {}
    for col in columns:
        cell = cells[col.index]
        if not cell or cell.isspace():
            continue
        try:
            value = col.convert(cell)
        except _CellError as exc:
            raise _cell_error(row, col.name, exc) from None
        path = col.path
        if len(path) == 1:
            data[path[0]] = value
        elif len(path) == 2:  # the common dotted column, e.g. input.query
            inner = data.get(path[0])
            if inner is None:
                data[path[0]] = {path[1]: value}
            else:
                inner[path[1]] = value
        elif not set_path(data, path, value):  # pragma: no cover - conflicts rejected above
            raise InvalidInput(f'row {row}, column "{col.name}": conflicting value', row=row)
    return data


#: Fields whose text the item validator strips wherever it sits (``input`` only as a whole).
_STRIPPED = frozenset({"expected_output", "context", "source_trace_id"})
#: Fields whose converters return a final non-text value.
_TYPED = frozenset({"tags", "sort_order"})
#: Per column: cell index, field, key inside the field (or None), converter (None: a JSON
#: field's cell, text unless it starts like JSON), strip the text, column name.
_FastColumn = tuple[int, str, str | None, Callable[[str], Any] | None, bool, str]


def _fast_plan(columns: list[_Column]) -> list[_FastColumn] | None:
    """The columns as :func:`_fast_row` reads them; None when one needs the general path
    (a path two keys deep, or a key the validator would strip)."""
    plan: list[_FastColumn] = []
    for col in columns:
        path = col.path
        if len(path) > 2 or any(strip_ws(k) != k for k in path[1:]):
            return None
        key = path[1] if len(path) == 2 else None
        strip = path[0] in _STRIPPED or path == ("input",)
        convert = None if col.convert is json_or_text else col.convert
        plan.append((col.index, path[0], key, convert, strip, col.name))
    return plan


def _fast_row(row: int, cells: list[str], plan: list[_FastColumn]) -> tuple[dict[str, Any], bool]:
    """The row's data, and whether it is a plain new item as it is (text cells, stripped
    where the model strips: see :func:`~assay.domain.item_values.is_plain_item`); if not,
    the validator finishes ``data``."""
    data: dict[str, Any] = {}
    plain = True
    for index, field, key, convert, strip, name in plan:
        cell = cells[index]
        if not cell or cell.isspace():
            continue
        try:
            if convert is None:
                first = cell[0]
                value = json_or_text(cell) if first in "{[" or first.isspace() else cell
            else:
                value = convert(cell)
        except _CellError as exc:
            raise _cell_error(row, name, exc) from None
        if value.__class__ is str:
            if strip:
                value = value.strip(WS)
        elif field not in _TYPED:
            plain = False  # a JSON cell: the validator checks and strips inside it
        if key is None:
            data[field] = value
        else:
            inner = data.get(field)
            if inner is None:
                data[field] = {key: value}
            else:
                inner[key] = value
    if not plain or "input" not in data:
        return data, False
    metadata = data.get("metadata")
    if metadata is not None and metadata.__class__ is not dict:
        return data, False
    tags = data.get("tags")
    if tags and ("" in tags or max(map(len, tags)) > 100):
        return data, False  # the validator names the bad tag
    data["source"] = ItemSource.import_
    return data, True


#: Run-output upload columns, by their lower-case name with spaces as underscores.
_OUTPUT_COLUMNS = {
    "input": "input",
    "expected_output": "expected_output",
    "expectedoutput": "expected_output",
    "output": "output",
    "dataset_item_id": "dataset_item_id",
    "datasetitemid": "dataset_item_id",
    "trace_id": "trace_id",
    "traceid": "trace_id",
    "observation_id": "observation_id",
    "observationid": "observation_id",
    "error": "error",
    "latency_ms": "latency_ms",
    "cost": "cost",
    "tokens_in": "tokens_in",
    "tokens_out": "tokens_out",
}
_OUTPUT_JSON = frozenset({"input", "expected_output", "output"})


def read_run_outputs(stream: IO[bytes]) -> Iterator[tuple[int, RunItemCreate]]:
    """Yield ``(row number, run item)`` for every row of a CSV of run outputs.

    The same reader and cell rules as a dataset import: an empty cell leaves its field out, a
    cell starting with ``{`` or ``[`` in ``input``, ``expected_output`` or ``output`` is JSON,
    and every other cell is text as written (``42`` stays ``"42"``).
    """
    header, rows = csv_rows(stream)
    columns: list[str] = []
    for name in header:
        key = _OUTPUT_COLUMNS.get(name.strip().lower().replace(" ", "_"))
        if key is None:
            raise InvalidInput(
                f"row 1: unknown CSV column {name!r}; expected some of "
                "input, expected_output, output, dataset_item_id, trace_id, observation_id, "
                "error, latency_ms, cost, tokens_in, tokens_out",
                field=name,
                row=1,
            )
        if key in columns:
            raise InvalidInput(f"row 1: two columns set {key}", field=name, row=1)
        columns.append(key)
    return _run_outputs(rows, header, columns)


def _run_outputs(
    rows: Iterator[tuple[int, list[str]]], header: list[str], columns: list[str]
) -> Iterator[tuple[int, RunItemCreate]]:
    row = 1
    count = 0
    for row, cells in rows:
        data: dict[str, Any] = {}
        for name, key, cell in zip(header, columns, cells, strict=True):
            if not cell or cell.isspace():
                continue
            try:
                data[key] = json_or_text(cell) if key in _OUTPUT_JSON else cell
            except _CellError as exc:
                message = f'row {row}, column "{name}": {exc}'
                raise InvalidInput(message, field=name, row=row) from None
        if not data:
            continue
        try:
            item = RunItemCreate(**data)
        except ValidationError as exc:
            raise from_validation(exc, row=row) from None
        count += 1
        yield row, item
    if count == 0:
        raise InvalidInput("the CSV file has no rows", field="file", row=row)


def _validate(data: dict[str, Any], row: int, columns: list[_Column]) -> NewItem:
    try:
        return check_item(data, f"row {row}", row)
    except InvalidInput as exc:
        # Name the column the user sees, not only the item field.
        field = exc.field or ""
        for col in columns:
            target = dotted(col.path)
            if field == target or field.startswith(target + "."):
                if col.name == target:
                    break
                message = exc.message.replace(f"row {row}", f'row {row}, column "{col.name}"', 1)
                raise InvalidInput(message, field=col.name, row=row) from None
        raise
