"""Import files into datasets and export datasets to files."""

from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO, Literal, get_args

from assay.domain import DatasetCreate, Item, ItemCreate
from assay.domain.item_values import NewItem, record_of
from assay.errors import InvalidInput
from assay.io._csv_read import read_csv
from assay.io._export import WRITERS
from assay.io._json_read import read_json, read_jsonl
from assay.store import Store, VersionChange
from assay.store.item_import import BuiltRows, RowBuilder, RowSpec

Format = Literal["csv", "json", "jsonl"]

FORMATS: tuple[Format, ...] = get_args(Format)
_EXTENSIONS: dict[str, Format] = {
    ".csv": "csv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_NOUN = {"csv": "row", "json": "item", "jsonl": "line"}


def detect_format(path: Path, format: Format | None = None) -> Format:
    """The explicit ``format`` if given, else the one the file extension names."""
    if format is not None:
        if format not in FORMATS:
            raise InvalidInput(
                f"unknown format {format!r}: use one of {', '.join(FORMATS)}", field="format"
            )
        return format
    found = _EXTENSIONS.get(Path(path).suffix.lower())
    if found is None:
        raise InvalidInput(
            f"cannot tell the format of {Path(path).name!r} from its extension "
            f"(.csv, .json, .jsonl, .ndjson): pass the format explicitly",
            field="format",
        )
    return found


def read_items(
    stream: BinaryIO, *, format: Format, mapping: Mapping[str, str] | None = None
) -> Iterator[tuple[int, ItemCreate]]:
    """Parse a file lazily into ``(row number, item)`` pairs; raises on the first bad row.

    The row number is the spreadsheet row for CSV (header = 1), the line for JSONL and the
    1-based position in the items array for JSON.
    """
    return ((n, record_of(item)) for n, item in _read(stream, format, mapping))


def _read(
    stream: BinaryIO, format: Format, mapping: Mapping[str, str] | None
) -> Iterator[tuple[int, NewItem]]:
    """:func:`read_items`, each item a plain row where it needs no record (see
    :data:`~assay.domain.item_values.NewItem`): what the store writes as it is."""
    if format == "csv":
        return read_csv(stream, mapping)
    if format == "json":
        return read_json(stream, mapping)
    if format == "jsonl":
        return read_jsonl(stream, mapping)
    raise InvalidInput(
        f"unknown format {format!r}: use one of {', '.join(FORMATS)}", field="format"
    )


def import_stream(
    store: Store,
    stream: BinaryIO,
    *,
    format: Format,
    dataset: str,
    create: bool = False,
    mapping: Mapping[str, str] | None = None,
    source_name: str = "<stream>",
) -> VersionChange:
    """Append every item of ``stream`` to ``dataset`` as one new version, all or nothing.

    With ``create``, a missing dataset is created in the same transaction, so a rejected file
    leaves no empty dataset behind.
    """
    items = _read(stream, format, mapping)
    rows = functools.partial(RowBuilder, items=items)
    return _import(store, rows, format=format, dataset=dataset, create=create, name=source_name)


def _import(
    store: Store,
    rows: Callable[[RowSpec], BuiltRows],
    *,
    format: Format,
    dataset: str,
    create: bool,
    name: str,
) -> VersionChange:
    try:
        return store.datasets.import_rows(
            dataset,
            rows,
            create=DatasetCreate(name=dataset) if create else None,
            message=f"import {name}",
        )
    except InvalidInput as exc:  # schema checks in the store count rows: name them as we do
        noun = _NOUN[format]
        if noun != "row" and exc.row is not None and exc.message.startswith(f"row {exc.row}:"):
            message = f"{noun} {exc.message[4:]}"
            raise InvalidInput(message, **exc.details) from None
        raise


def import_file(
    store: Store,
    path: Path,
    *,
    dataset: str,
    create: bool = False,
    format: Format | None = None,
    mapping: Mapping[str, str] | None = None,
) -> VersionChange:
    """Import a CSV, JSON or JSONL file (format from ``format`` or the extension); a large
    file is parsed by an import process while this one inserts (``io/import_process.py``)."""
    path = Path(path)
    fmt = detect_format(path, format)
    try:
        stream = path.open("rb")
    except FileNotFoundError:
        raise InvalidInput(f"file not found: {path}", field="file") from None
    except IsADirectoryError:
        raise InvalidInput(f"not a file: {path}", field="file") from None
    from assay.io import import_process  # the module a process runs: not at package import

    if import_process.wanted(os.fstat(stream.fileno()).st_size):
        stream.close()
        return _through_process(store, path, fmt, dataset, create, mapping, path.name)
    with stream:
        return import_stream(
            store,
            stream,
            format=fmt,
            dataset=dataset,
            create=create,
            mapping=mapping,
            source_name=path.name,
        )


def import_upload(
    store: Store,
    upload: BinaryIO,
    *,
    format: Format,
    dataset: str,
    mapping: Mapping[str, str] | None = None,
    source_name: str = "upload",
) -> VersionChange:
    """:func:`import_stream` of an uploaded file (seekable, as a server spools it): one as
    large as :func:`import_file` parses in an import process is copied to a temporary file
    and imported that way."""
    from assay.io import import_process

    try:
        size = upload.seek(0, os.SEEK_END)
        upload.seek(0)
    except (OSError, ValueError):  # not seekable: read as it comes
        size = -1
    if not import_process.wanted(size):
        return import_stream(
            store, upload, format=format, dataset=dataset, mapping=mapping, source_name=source_name
        )
    with tempfile.TemporaryDirectory(prefix="assay-upload-") as folder:
        path = Path(folder) / f"upload.{format}"
        with path.open("wb") as copy:
            shutil.copyfileobj(upload, copy, 1 << 20)
        return _through_process(store, path, format, dataset, False, mapping, source_name)


def _through_process(
    store: Store,
    path: Path,
    format: Format,
    dataset: str,
    create: bool,
    mapping: Mapping[str, str] | None,
    name: str,
) -> VersionChange:
    """Import the file at ``path``, its rows built by an import process."""
    from assay.io import import_process

    built = import_process.ProcessRows(path, format, mapping)
    try:
        return _import(store, built, format=format, dataset=dataset, create=create, name=name)
    finally:
        built.close()


def export_dataset(
    store: Store,
    dataset: str,
    out: BinaryIO,
    *,
    format: Format,
    version: int | None = None,
) -> int:
    """Write the dataset's live items at ``version`` (default: current) to ``out``; rows written.

    Nothing is written if the dataset or version does not exist.
    """
    writer = WRITERS.get(format)
    if writer is None:
        raise InvalidInput(
            f"unknown format {format!r}: use one of {', '.join(FORMATS)}", field="format"
        )
    items = store.datasets.iter_items(dataset, version=version)
    first = next(items, None)  # raises NotFound before anything is written
    return writer(_chain(first, items), out)


def _chain(first: Item | None, rest: Iterator[Item]) -> Iterator[Item]:
    if first is None:
        return
    yield first
    yield from rest
