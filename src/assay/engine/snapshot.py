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
from collections.abc import Hashable, Sequence
from typing import IO, Any

import orjson
from pydantic import BaseModel

from assay.domain import ResultStatus, ScoreSource
from assay.errors import InvalidInput
from assay.store import Store, run_frames
from assay.store.recording import Rows
from assay.store.run_aggregates import store_aggregates, store_counted
from assay.store.run_columns import judge_spreads
from assay.store.run_pages import PAGE, ResultRow, ScoreRow, result_pages
from assay.store.run_tally import RunTally

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

    def file(self) -> IO[bytes]:
        """A temporary file, removed with the columns."""
        return self._stack.enter_context(tempfile.TemporaryFile())

    def _column(self, descr: str) -> _Column:
        return _Column(self.file(), descr)

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
        ids = cols.file()
        for rows, score_rows in pages:
            _add_page(cols, ids, rows, score_rows)
        cols.judge_spreads = judge_spreads(store.db, experiment_id)
        _archive(cols, ids, out)


def _add_page(
    cols: _Columns, ids: IO[bytes], rows: Sequence[ResultRow], score_rows: list[ScoreRow]
) -> None:
    """Append one page of results (in plan order) and their scores to the columns."""
    kept = [r for r in rows if r[1] is not None]
    cols.unaligned += len(rows) - len(kept)
    if not kept:
        return
    rids, items, repetition, status, passed, latency, cost, errors = zip(*kept, strict=True)
    try:
        cols.status.add(array("b", [_CODE[v] for v in status]))
    except KeyError as exc:
        raise InvalidInput(f"unknown result status {exc.args[0]!r}", field="status") from None
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


class Spool:
    """A fresh run's snapshot, built by its writer from the rows it writes.

    A run planned without pending rows (see :mod:`assay.store.unwritten`) has, when it ends,
    exactly the rows its writer inserted, unless something else wrote to it meanwhile. The
    writer hands each committed batch to :meth:`add` with the run's data revision as the batch
    left it; results come in as they finish and are put back in plan order (their ids are
    sequential) before they join the columns. When the run ends, :meth:`write` assembles the
    archive from the columns if every write to the run was the writer's own, every planned
    result was written, and its end changed nothing else; otherwise it declines and the
    snapshot is read from the store as usual. Results held for an earlier one still running
    are few; past ``hold`` of them (a result stuck in retries) the spool gives up.
    """

    def __init__(
        self, first_result_id: str, total: int, *, page: int = PAGE, hold: int = 50_000
    ) -> None:
        self._base = _position(first_result_id)
        self.total = total
        self._page = page
        self._hold = hold
        self._stack = contextlib.ExitStack()
        self._cols = _Columns(self._stack)
        self._ids = self._cols.file()
        self._waiting: dict[int, tuple[ResultRow, list[ScoreRow]]] = {}
        self._next = 0  # plan position of the next result the columns take
        self._rows: list[ResultRow] = []
        self._scores: list[ScoreRow] = []
        self.batches = 0
        self.valid = True
        self._unconfirmed = False  # batches sent to a writer process, revisions not yet known
        self.tally = RunTally()  # the run page's aggregates, counted as they are written
        self._ready: IO[bytes] | None = None  # the archive, built ahead (see :meth:`prepare`)
        self.counted: list[tuple[Hashable, BaseModel]] | None = None  # the aggregates, ahead

    def add(self, rows: Rows, revision: int | None) -> None:
        """Take a committed batch; ``revision``: the run's data revision after it (None: the
        batch was written the checked way, so the store may hold other rows)."""
        if not self.valid:
            return
        self.batches += 1
        if revision != self.batches:  # the run was written to by something else too
            self.close()
            return
        self._take(rows)

    def add_sent(self, rows: Rows) -> None:
        """Take a batch handed to a writer process: its revision is checked when the process
        reports the revisions of what it committed (:meth:`confirm`)."""
        if not self.valid:
            return
        self.batches += 1
        self._unconfirmed = True
        self._take(rows)

    def confirm(self, revisions: Sequence[int | None]) -> None:
        """The run's data revision after each batch the writer process committed, in order:
        the spool holds the run only if they are its every batch, nothing else written between."""
        if list(revisions) != list(range(1, self.batches + 1)):
            self.close()
        self._unconfirmed = False

    def _take(self, rows: Rows) -> None:
        self.tally.add(rows)
        mine: dict[str, list[ScoreRow]] = {}
        for s in rows.scores:
            found = mine.get(s[0])
            score = (s[0], s[1], s[3], s[5], s[7], s[10])
            if found is None:
                mine[s[0]] = [score]
            else:
                found.append(score)
        waiting, base = self._waiting, self._base
        empty: list[ScoreRow] = []
        for r in rows.results:
            rid = r[11]
            # (id, item_id, repetition, status, passed, latency_ms, cost, error)
            result = (rid, r[13], r[14], r[0], r[8], r[3], r[6], r[2])
            waiting[_position(rid) - base] = (result, mine.get(rid, empty))
        position, taken, scores = self._next, self._rows, self._scores
        while position in waiting:
            result, its_scores = waiting.pop(position)
            taken.append(result)
            scores.extend(its_scores)
            position += 1
            if len(taken) >= self._page:
                self._flush()
                taken, scores = self._rows, self._scores
        self._next = position
        if len(waiting) > self._hold:
            self.close()

    def _flush(self) -> None:
        _add_page(self._cols, self._ids, self._rows, self._scores)
        self._rows, self._scores = [], []

    def prepare(self, experiment_id: str) -> None:
        """Build the archive and the page aggregates now, if every planned result is here and
        the spool counted the judge spreads itself: what a writer process is still committing
        is already in the spool, so its last commits need not be waited for. :meth:`write`
        then checks the run's revisions as always and stores these."""
        if not self.valid or self._next != self.total or self._ready is not None:
            return
        spreads = self.tally.judge_spreads()
        if spreads is None:  # read from the store, once everything is committed
            return
        if self._rows:
            self._flush()
        self._cols.judge_spreads = spreads
        ready = self._cols.file()
        _archive(self._cols, self._ids, ready)
        self._ready = ready
        self.counted = self.tally.aggregates(experiment_id)

    def write(self, store: Store, experiment_id: str, revision: int, out: IO[bytes]) -> bool:
        """Write the archive to ``out`` if the spool holds the run as the store has it at
        ``revision`` (read after the run ended); False, writing nothing, if it does not."""
        # The run's end adds one revision; one more means it wrote results never run.
        if (
            not self.valid
            or self._unconfirmed
            or self._next != self.total
            or revision != self.batches + 1
        ):
            return False
        if self._ready is not None:
            self._ready.seek(0)
            shutil.copyfileobj(self._ready, out, 1 << 20)
            return True
        if self._rows:
            self._flush()
        counted = self.tally.judge_spreads()
        self._cols.judge_spreads = (
            judge_spreads(store.db, experiment_id) if counted is None else counted
        )
        _archive(self._cols, self._ids, out)
        return True

    def close(self) -> None:
        """Drop the columns (the spool is then no longer valid)."""
        self.valid = False
        self._waiting.clear()
        self._rows, self._scores = [], []
        self._stack.close()


def _position(result_id: str) -> int:
    return int(result_id.replace("-", ""), 16)


def _add_scores(score_rows: list[ScoreRow], row_of: dict[str, int], cols: _Columns, n: int) -> None:
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
                page = orjson.loads(line)
                whole = "".join(page).encode()
                if len(whole) != width * len(page):  # not every id is as long as the longest
                    whole = b"".join(i.encode().ljust(width, b"\0") for i in page)
                entry.write(whole)
        with archive.open("header.npy", "w", force_zip64=True) as entry:
            entry.write(_npy_header("|u1", len(header)))
            entry.write(header)


def store_snapshot(store: Store, experiment_id: str, spool: Spool | None = None) -> None:
    """Store a finished run's snapshot now, so that its first comparison or gate reads it
    rather than every result and score row, and its page's aggregates (see
    :mod:`assay.store.run_aggregates`). It is stamped with the data revision read before
    its data (a write landing meanwhile makes it stale, never wrong); ``spool``, the run's
    columns and aggregates as its writer wrote them, is used when it holds the run whole. A
    snapshot is only a cache: a failure here is logged, never raised."""
    counted = None
    try:
        with store.db.read() as conn:
            found = run_frames.finished_revision(conn, experiment_id)
        if found is None:
            return
        revision = found
        with tempfile.TemporaryFile() as out:
            if spool is not None and spool.write(store, experiment_id, revision, out):
                counted = spool.counted
                if counted is None:  # not prepared ahead
                    counted = spool.tally.aggregates(experiment_id)
            else:
                write(store, experiment_id, out)
            run_frames.save_file(store.db, experiment_id, revision, out, out.tell())
    except Exception:
        log.warning("could not store the run frame of %s", experiment_id, exc_info=True)
    finally:
        if spool is not None:
            spool.close()
    if counted is not None:
        store_counted(store, experiment_id, revision, counted)
    else:
        store_aggregates(store, experiment_id)
