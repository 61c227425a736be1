"""A finished run's snapshot written straight from the store, in pages, without NumPy.

The snapshot (see :mod:`assay.analysis.snapshot`) is an uncompressed ``.npz`` archive: one
``.npy`` array per numeric column, two per scorer, and a JSON header. Building it through a
:class:`~assay.analysis.frame.RunFrame` would hold every result and score as Python objects
and load NumPy when a run ends; here results are read in keyset pages with the scores of each
page, each column grows as a compact :class:`array.array`, the item ids go to a temporary file,
and the archive is assembled from those. It reads back exactly like the frame-built one
(``tests/integration/test_run_snapshot.py`` compares them).
"""

from __future__ import annotations

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
from assay.store.run_pages import PAGE, result_pages

log = logging.getLogger(__name__)

FORMAT = 2  # assay.analysis.snapshot.WITH_IDS_IN_HEADER
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


class _Columns:
    """The snapshot's columns as they grow, one page of results at a time."""

    def __init__(self) -> None:
        self.n = 0
        self.unaligned = 0
        self.repetition = array("q")
        self.status = array("b")
        self.passed = array("d")
        self.latency_ms = array("d")
        self.cost = array("d")
        self.judge_cost = array("d")
        self.scores: dict[str, tuple[array[float], array[float]]] = {}
        self.errors: dict[int, str] = {}

    def score_column(self, name: str) -> tuple[array[float], array[float]]:
        found = self.scores.get(name)
        if found is None:
            found = self.scores[name] = (array("d", [NAN]) * self.n, array("d", [NAN]) * self.n)
        return found

    def pad(self) -> None:
        """Every score column as long as the results read so far."""
        for value, passed in self.scores.values():
            missing = self.n - len(value)
            if missing:
                value.extend(array("d", [NAN]) * missing)
                passed.extend(array("d", [NAN]) * missing)


def build(store: Store, experiment_id: str, *, page: int | None = None) -> bytes:
    """The snapshot of a run as :func:`assay.analysis.snapshot.dumps` would write it."""
    with tempfile.TemporaryFile() as out:
        write(store, experiment_id, out, page=page)
        out.seek(0)
        return out.read()


def write(store: Store, experiment_id: str, out: IO[bytes], *, page: int | None = None) -> None:
    """Write the run's snapshot archive to ``out`` (see :func:`build`)."""
    cols = _Columns()
    pages = result_pages(store.db, experiment_id, page=page or PAGE)
    with tempfile.TemporaryFile() as ids:
        for rows, score_rows in pages:
            kept = [r for r in rows if r[1] is not None]
            cols.unaligned += len(rows) - len(kept)
            if not kept:
                continue
            rids, items, repetition, status, passed, latency, cost, errors = zip(*kept, strict=True)
            try:
                cols.status.extend([_CODE[v] for v in status])
            except KeyError as exc:
                raise InvalidInput(
                    f"unknown result status {exc.args[0]!r}", field="status"
                ) from None
            start = cols.n
            cols.n += len(kept)
            cols.repetition.extend(repetition)
            cols.passed.extend([NAN if v is None else (1.0 if v else 0.0) for v in passed])
            cols.latency_ms.extend([NAN if v is None else v for v in latency])
            cols.cost.extend([NAN if v is None else v for v in cost])
            cols.judge_cost.extend(array("d", [NAN]) * len(kept))
            for k, error in enumerate(errors, start):
                if error is not None:
                    cols.errors[k] = error
            ids.write((b"," if start else b"") + orjson.dumps(items)[1:-1])
            cols.pad()  # score columns as long as the results so far, then this page's scores
            if score_rows:
                _add_scores(score_rows, dict(zip(rids, range(start, cols.n), strict=True)), cols)
        _archive(cols, ids, out)


def _add_scores(score_rows: list[tuple[Any, ...]], row_of: dict[str, int], cols: _Columns) -> None:
    best: dict[tuple[int, str], tuple[int, int, str]] = {}
    for rid, name, numeric, passed, source, cost in score_rows:
        row = row_of.get(rid)
        if row is None:
            continue
        if cost is not None:
            spent = cols.judge_cost[row]
            cols.judge_cost[row] = float(cost) if math.isnan(spent) else spent + float(cost)
        rank = _rank(source)
        key = (row, name)
        if key in best and best[key] > rank:
            continue
        best[key] = rank
        value, flag = cols.score_column(name)
        value[row] = _float(numeric)
        flag[row] = _flag(passed)


def _archive(cols: _Columns, ids: IO[bytes], out: IO[bytes]) -> None:
    """Write the ``.npz`` archive to ``out``, one entry at a time (the item ids copied from
    the ``ids`` file in blocks)."""
    names = sorted(cols.scores)
    n = cols.n
    arrays: list[tuple[str, array[Any], str]] = [
        ("repetition", cols.repetition, f"{_END}i8"),
        ("status", cols.status, "|i1"),
        ("passed", cols.passed, f"{_END}f8"),
        ("latency_ms", cols.latency_ms, f"{_END}f8"),
        ("cost", cols.cost, f"{_END}f8"),
        ("judge_cost", cols.judge_cost, f"{_END}f8"),
    ]
    for i, name in enumerate(names):
        value, passed = cols.scores[name]
        arrays.append((f"value_{i}", value, f"{_END}f8"))
        arrays.append((f"passed_{i}", passed, f"{_END}f8"))
    head = f'{{"format": {FORMAT}, "item_ids": ['.encode()
    tail = (
        f'], "scores": {json.dumps(names)}, "unaligned": {cols.unaligned}, '
        f'"errors": {json.dumps(cols.errors)}}}'
    ).encode()
    size = ids.tell()
    ids.seek(0)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, values, descr in arrays:
            with archive.open(f"{name}.npy", "w", force_zip64=True) as entry:
                entry.write(_npy_header(descr, n))
                entry.write(memoryview(values).cast("B"))
        with archive.open("header.npy", "w", force_zip64=True) as entry:
            entry.write(_npy_header("|u1", len(head) + size + len(tail)))
            entry.write(head)
            shutil.copyfileobj(ids, entry, 1 << 20)
            entry.write(tail)


def store_snapshot(store: Store, experiment_id: str) -> None:
    """Store a finished run's snapshot now, so that its first comparison or gate reads it
    rather than every result and score row. It is stamped with the data revision read before
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
