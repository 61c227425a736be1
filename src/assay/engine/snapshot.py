"""A finished run's snapshot written straight from the store, in pages, without NumPy.

The snapshot (see :mod:`assay.analysis.snapshot`) is an uncompressed ``.npz`` archive: one
``.npy`` array per numeric column, two per scorer, the item ids as one fixed-width byte array,
and a JSON header. Building it through a :class:`~assay.analysis.frame.RunFrame` would hold
every result and score as Python objects and load NumPy when a run ends; here results are read
in keyset pages with the scores of each page, each page's columns are compact
:class:`array.array` values appended to a temporary file per column (the item ids as a JSON
line per page, their longest UTF-8 length noted), and the archive is assembled from those
files: memory holds one page whatever the run's size. It reads back exactly like the
frame-built one (``tests/integration/test_run_snapshot.py`` compares them).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import sys
import tempfile
import zipfile
from array import array
from typing import IO, Any

import orjson

from assay.domain import ResultStatus, ScoreSource
from assay.errors import InvalidInput
from assay.store import Store, run_frames
from assay.store.run_aggregates import store_aggregates
from assay.store.run_columns import judge_spreads
from assay.store.run_pages import PAGE, result_pages

log = logging.getLogger(__name__)

FORMAT = 4  # assay.analysis.snapshot.FORMAT
_END = "<" if sys.byteorder == "little" else ">"  # array.array stores native byte order
NAN = math.nan
_CODE = {s.value: i for i, s in enumerate(ResultStatus)}  # RunFrame.status codes
# Among scores of one name on one result, the highest ranked source wins (people overrule the
# API, which overrules evaluators; any other source ranks above those, alphabetically).
_LISTED = (ScoreSource.evaluator.value, ScoreSource.api.value, ScoreSource.human.value)


def _rank(source: str) -> tuple[int, int, str]:
    return (0, _LISTED.index(source), "") if source in _LISTED else (1, 0, source)


def _flag(value: Any) -> float:
    return NAN if value is None else (1.0 if value else 0.0)


def _float(value: Any) -> float:
    return NAN if value is None else float(value)


def _npy_header(descr: str, n: int) -> bytes:
    """A version 1.0 ``.npy`` header for a one-dimensional array of ``n`` values."""
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({n},), }}"
    pad = 64 - (10 + len(header) + 1) % 64
    text = (header + " " * (pad % 64) + "\n").encode("latin1")
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text


class _Column:
    """One column of the archive, spooled to a temporary file a page at a time."""

    def __init__(self, file: IO[bytes], descr: str) -> None:
        self.file = file
        self.descr = descr

    def add(self, values: array[Any]) -> None:
        values.tofile(self.file)

    def add_missing(self, n: int) -> None:
        """``n`` NaN values (rows read before this score's name first appeared)."""
        block = array("d", [NAN]) * min(n, 1 << 16)
        while n > 0:
            take = min(n, len(block))
            block[:take].tofile(self.file)
            n -= take


class _Columns:
    """The snapshot's columns, spooled to files as the pages of results are read, so a run of
    any size is held in memory one page at a time."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self._stack = stack
        self.n = 0
        self.unaligned = 0
        self.repetition = self._column(f"{_END}i8")
        self.status = self._column("|i1")
        self.passed = self._column(f"{_END}f8")
        self.latency_ms = self._column(f"{_END}f8")
        self.cost = self._column(f"{_END}f8")
        self.judge_cost = self._column(f"{_END}f8")
        self.scores: dict[str, tuple[_Column, _Column]] = {}
        self.errors: dict[int, str] = {}
        self.judge_spreads: dict[str, tuple[float, int, int]] = {}
        self.id_width = 1

    def _column(self, descr: str) -> _Column:
        return _Column(self._stack.enter_context(tempfile.TemporaryFile()), descr)

    def score_column(self, name: str) -> tuple[_Column, _Column]:
        """A score's columns, filled with NaN up to the page being read (``self.n``)."""
        found = self.scores.get(name)
        if found is None:
            found = self.scores[name] = (self._column(f"{_END}f8"), self._column(f"{_END}f8"))
            for column in found:
                column.add_missing(self.n)
        return found


def build(store: Store, experiment_id: str, *, page: int | None = None) -> bytes:
    """The snapshot of a run as :func:`assay.analysis.snapshot.dumps` would write it."""
    with tempfile.TemporaryFile() as out:
        write(store, experiment_id, out, page=page)
        out.seek(0)
        return out.read()


def write(store: Store, experiment_id: str, out: IO[bytes], *, page: int | None = None) -> None:
    """Write the run's snapshot archive to ``out`` (see :func:`build`)."""
    pages = result_pages(store.db, experiment_id, page=page or PAGE)
    with contextlib.ExitStack() as stack:
        cols = _Columns(stack)
        ids = stack.enter_context(tempfile.TemporaryFile())
        for rows, score_rows in pages:
            kept = [r for r in rows if r[1] is not None]
            cols.unaligned += len(rows) - len(kept)
            if not kept:
                continue
            rids, items, repetition, status, passed, latency, cost, errors = zip(*kept, strict=True)
            try:
                cols.status.add(array("b", [_CODE[v] for v in status]))
            except KeyError as exc:
                raise InvalidInput(
                    f"unknown result status {exc.args[0]!r}", field="status"
                ) from None
            start = cols.n
            cols.repetition.add(array("q", repetition))
            cols.passed.add(array("d", [NAN if v is None else (1.0 if v else 0.0) for v in passed]))
            cols.latency_ms.add(array("d", [NAN if v is None else v for v in latency]))
            cols.cost.add(array("d", [NAN if v is None else v for v in cost]))
            for k, error in enumerate(errors, start):
                if error is not None:
                    cols.errors[k] = error
            ids.write(orjson.dumps(items) + b"\n")
            cols.id_width = max(cols.id_width, *(len(i.encode()) for i in items))
            row_of = dict(zip(rids, range(len(kept)), strict=True))
            _add_scores(score_rows, row_of, cols, len(kept))
            cols.n += len(kept)
        cols.judge_spreads = judge_spreads(store.db, experiment_id)
        _archive(cols, ids, out)


def _add_scores(
    score_rows: list[tuple[Any, ...]], row_of: dict[str, int], cols: _Columns, n: int
) -> None:
    """One page's scores and judge cost (``row_of``: a result's row within the page)."""
    judge_cost = array("d", [NAN]) * n
    values: dict[str, tuple[array[float], array[float]]] = {
        name: (array("d", [NAN]) * n, array("d", [NAN]) * n) for name in cols.scores
    }
    best: dict[tuple[int, str], tuple[int, int, str]] = {}
    for rid, name, numeric, passed, source, cost in score_rows:
        row = row_of.get(rid)
        if row is None:
            continue
        if cost is not None:
            spent = judge_cost[row]
            judge_cost[row] = float(cost) if math.isnan(spent) else spent + float(cost)
        rank = _rank(source)
        key = (row, name)
        if key in best and best[key] > rank:
            continue
        best[key] = rank
        found = values.get(name)
        if found is None:
            found = values[name] = (array("d", [NAN]) * n, array("d", [NAN]) * n)
        value, flag = found
        value[row] = _float(numeric)
        flag[row] = _flag(passed)
    cols.judge_cost.add(judge_cost)
    for name, (value, flag) in values.items():
        value_column, flag_column = cols.score_column(name)
        value_column.add(value)
        flag_column.add(flag)


def _archive(cols: _Columns, ids: IO[bytes], out: IO[bytes]) -> None:
    """Write the ``.npz`` archive to ``out``, one entry at a time, each copied from its
    spooled column in blocks."""
    names = sorted(cols.scores)
    n = cols.n
    columns: list[tuple[str, _Column]] = [
        ("repetition", cols.repetition),
        ("status", cols.status),
        ("passed", cols.passed),
        ("latency_ms", cols.latency_ms),
        ("cost", cols.cost),
        ("judge_cost", cols.judge_cost),
    ]
    for i, name in enumerate(names):
        value, passed = cols.scores[name]
        columns.append((f"value_{i}", value))
        columns.append((f"passed_{i}", passed))
    header = json.dumps(
        {
            "format": FORMAT,
            "scores": names,
            "unaligned": cols.unaligned,
            "errors": cols.errors,
            "judge_spreads": cols.judge_spreads,
        }
    ).encode()
    ids.seek(0)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, column in columns:
            with archive.open(f"{name}.npy", "w", force_zip64=True) as entry:
                entry.write(_npy_header(column.descr, n))
                column.file.seek(0)
                shutil.copyfileobj(column.file, entry, 1 << 20)
        with archive.open("item_ids.npy", "w", force_zip64=True) as entry:
            width = cols.id_width
            entry.write(_npy_header(f"|S{width}", n))
            for line in ids:
                entry.write(b"".join(i.encode().ljust(width, b"\0") for i in orjson.loads(line)))
        with archive.open("header.npy", "w", force_zip64=True) as entry:
            entry.write(_npy_header("|u1", len(header)))
            entry.write(header)


def store_snapshot(store: Store, experiment_id: str) -> None:
    """Store a finished run's snapshot now, so that its first comparison or gate reads it
    rather than every result and score row, and its page's aggregates (see
    :mod:`assay.store.run_aggregates`). It is stamped with the data revision read before
    its data (a write landing meanwhile makes it stale, never wrong). A snapshot is only a
    cache: a failure here is logged, never raised."""
    try:
        if not store.experiments.get(experiment_id).status.finished:
            return
        with store.db.read() as conn:
            revision = run_frames.revision(conn, experiment_id)
        with tempfile.TemporaryFile() as out:
            write(store, experiment_id, out)
            run_frames.save_file(store.db, experiment_id, revision, out, out.tell())
    except Exception:
        log.warning("could not store the run frame of %s", experiment_id, exc_info=True)
    store_aggregates(store, experiment_id)
