"""A run frame's statistics columns as bytes, for storing next to a finished run.

The format is an uncompressed NumPy ``.npz`` archive read without pickle: one array per
numeric column, two per scorer, the item ids as one fixed-width array of their UTF-8 bytes,
and a JSON header (format, scorer names, the error texts of the rows that have one) stored as
a byte array. A column holding one value on every row is stored as that one value. Outputs
are not part of it; frames that need them are read from the results themselves.

Older formats read back the same: format 3 stored every column whole and the ids as ASCII
bytes (Unicode when an id was not ASCII), format 2 (as :mod:`assay.engine.snapshot` wrote
it) the ids in the JSON header.
"""

from __future__ import annotations

import io
import json
import zipfile
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from assay.analysis.frame import (
    COLUMNS,
    OutputFetcher,
    RowTexts,
    RunFrame,
    ScoreColumn,
    SharedColumns,
    compact,
)
from assay.analysis.item_keys import IdArray, encode
from assay.analysis.snapshot_ids import header_ids
from assay.domain import Experiment

FORMAT = 4
#: Every column stored whole, the ids as ASCII (or Unicode) fixed-width arrays: read as well.
WHOLE_COLUMNS = 3
#: The item ids in the JSON header: what :mod:`assay.engine.snapshot` wrote; read as well.
WITH_IDS_IN_HEADER = 2
#: Bytes written at a time: no column is copied whole on its way to the archive.
BLOCK = 1 << 20


def _stored(column: npt.NDArray[Any], n: int) -> npt.NDArray[Any]:
    """The column as written: one value when it holds one value on every row."""
    return column[:1] if n > 1 and column.strides == (0,) else column


def _write(archive: zipfile.ZipFile, name: str, array: npt.NDArray[Any]) -> None:
    array = np.ascontiguousarray(array)
    with archive.open(f"{name}.npy", "w", force_zip64=True) as entry:
        np.lib.format.write_array_header_1_0(entry, np.lib.format.header_data_from_array_1_0(array))
        raw = array.reshape(-1).view(np.uint8)
        for start in range(0, raw.size, BLOCK):
            entry.write(raw[start : start + BLOCK].data)


def dump(frame: RunFrame, out: IO[bytes]) -> None:
    """Write the frame's columns (not its outputs) to ``out``."""
    n = len(frame)
    names = list(frame.scores)
    errors = frame.errors.texts if isinstance(frame.errors, RowTexts) else frame.errors
    header: dict[str, Any] = {
        "format": FORMAT,
        "scores": names,
        "unaligned": frame.unaligned,
        "errors": (
            {str(row): e for row, e in sorted(errors.items())}
            if isinstance(errors, dict)
            else {str(row): e for row, e in enumerate(errors or ()) if e is not None}
        ),
    }
    if frame.judge_spreads is not None:
        header["judge_spreads"] = frame.judge_spreads
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for column in COLUMNS:
            _write(archive, column, _stored(getattr(frame, column), n))
        _write(archive, "item_ids", frame.item_ids)
        for i, name in enumerate(names):
            _write(archive, f"value_{i}", _stored(frame.scores[name].value, n))
            _write(archive, f"passed_{i}", _stored(frame.scores[name].passed, n))
        _write(archive, "header", np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))


def dumps(frame: RunFrame) -> bytes:
    """The frame's columns (not its outputs) as bytes."""
    out = io.BytesIO()
    dump(frame, out)
    return out.getvalue()


def _column(archive: Any, name: str, n: int, same: SharedColumns) -> npt.NDArray[Any]:
    """A column as stored (one value: broadcast), kept compact as soon as it is read."""
    values: npt.NDArray[Any] = archive[name]
    if values.size == 1 and n != 1:
        return np.broadcast_to(values, (n,))
    return same.one(compact(values)) if values.dtype.kind == "f" else compact(values)


def _same_ids(archive: Any, like: IdArray) -> bool:
    """Whether the archive's stored ids (format 4) equal ``like``, read a block at a time."""
    with archive.zip.open("item_ids.npy") as entry:
        version = np.lib.format.read_magic(entry)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(entry)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(entry)
        else:
            return False
        if fortran or dtype != like.dtype or shape != like.shape:
            return False
        rows = max(1, BLOCK // max(1, dtype.itemsize))
        for start in range(0, like.size, rows):
            block = like[start : start + rows]
            stored = np.frombuffer(entry.read(block.nbytes), dtype=dtype)
            if stored.size != block.size or not np.array_equal(stored, block):
                return False
    return True


def load(
    data: IO[bytes],
    experiment: Experiment,
    fetch_outputs: OutputFetcher | None = None,
    *,
    ids_like: IdArray | None = None,
) -> RunFrame | None:
    """The frame stored by :func:`dump`, read from a binary file (a block at a time), or
    None when it was written in another format.

    ``ids_like``: the item ids of a frame already read (the baseline of a comparison). When
    the stored ids equal them, the frame shares that array instead of holding a copy: two runs
    planned from the same items then take the memory of one id column."""
    with np.load(data, allow_pickle=False) as archive:
        item_ids, raw = header_ids(archive["header"])
        header = json.loads(raw.tobytes())
        del raw
        if header.get("format") not in (FORMAT, WHOLE_COLUMNS, WITH_IDS_IN_HEADER):
            return None
        if item_ids is None and "item_ids" in header:
            item_ids = encode(header.pop("item_ids"))
        elif item_ids is None and ids_like is not None and _same_ids(archive, ids_like):
            item_ids = ids_like
        elif item_ids is None:
            item_ids = encode(archive["item_ids"])
        n = len(item_ids)
        same = SharedColumns()
        columns: dict[str, Any] = {c: _column(archive, c, n, same) for c in COLUMNS}
        scores = {
            name: ScoreColumn(
                _column(archive, f"value_{i}", n, same), _column(archive, f"passed_{i}", n, same)
            )
            for i, name in enumerate(header["scores"])
        }
    spreads = header.get("judge_spreads")
    return RunFrame(
        run_id=experiment.id,
        name=experiment.name,
        item_ids=item_ids,
        scores=scores,
        dataset_id=experiment.dataset_id,
        dataset_version=experiment.dataset_version,
        unaligned=int(header["unaligned"]),
        errors=RowTexts(n, {int(row): text for row, text in header["errors"].items()}),
        fetch_outputs=fetch_outputs,
        judge_spreads=None if spreads is None else {k: tuple(v) for k, v in spreads.items()},
        distinct_keys=True,
        **columns,
    )


def loads(
    data: bytes, experiment: Experiment, fetch_outputs: OutputFetcher | None = None
) -> RunFrame | None:
    """:func:`load` from bytes."""
    return load(io.BytesIO(data), experiment, fetch_outputs)
