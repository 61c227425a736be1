"""A stored run read into a :class:`RunFrame` page by page, straight into NumPy columns.

The results are read in keyset pages of the primary key, each with its scores off the score
index, coded so that the driver converts fewer values (a result's repetition, status and pass
flag as one number, a score's name, source and pass flag as another: see
:func:`assay.store.run_pages.coded_pages`); every page is turned into array slices at once, so
no Python object per row outlives its page. The columns are allocated up front from the run's
size (one count off a result index); a numeric column is allocated only once a page shows it
does not hold one value on every row (see :class:`~assay.analysis.frame.RunFrame`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from assay.analysis.frame import STATUSES, FloatArray, RowTexts, RunFrame, ScoreColumn
from assay.analysis.item_keys import IdArray, encode
from assay.domain import Experiment, ScoreSource
from assay.errors import InvalidInput
from assay.store import Store
from assay.store.run_columns import outputs_of
from assay.store.run_pages import Codes, Page, coded_pages, plain_page, run_span, score_names
from assay.store.types import loads

#: Results per page: about a megabyte of row tuples at a time (larger pages are no faster,
#: and the memory their rows took stays with the process).
PAGE = 5_000
_CODE = {s.value: i for i, s in enumerate(STATUSES)}
#: When one result has scores of the same name from several sources, later sources win
#: (sources not listed rank above these, alphabetically).
SOURCE_ORDER = ("evaluator", "api", "human")
NAN = float("nan")


def _sources(present: set[str]) -> list[str]:
    return [s for s in SOURCE_ORDER if s in present] + sorted(present - set(SOURCE_ORDER))


#: What coded pages number (see :class:`~assay.store.run_pages.Codes`): statuses as the
#: frame codes them, sources in rank order.
_STATUSES = tuple(s.value for s in STATUSES)
_RANKED = tuple(_sources({s.value for s in ScoreSource}))


_UNSET: Any = object()


class _Column:
    """A numeric column of ``n`` rows as it fills, page by page. While every row given holds
    one value (a run without trials, without judge costs, a numeric scorer's pass flags) no
    array is allocated: rows never given hold ``fill``."""

    def __init__(self, n: int, dtype: Any, fill: Any = _UNSET) -> None:
        self.n = n
        self.dtype = np.dtype(dtype)
        self.value = fill
        self.array: npt.NDArray[Any] | None = None

    def put(self, start: int, block: npt.NDArray[Any]) -> None:
        """Set the rows from ``start`` on to ``block``."""
        if self.array is None:
            if block.size == 0:
                return
            if self.value is _UNSET:
                self.value = block[0]
            if _all_equal(block, self.value):
                return
            self.array = np.full(self.n, self.value, dtype=self.dtype)
        self.array[start : start + block.size] = block

    def resize(self, n: int) -> None:
        """``n`` rows: rows added hold ``fill`` (or are set next), rows cut are dropped."""
        if self.array is not None:
            if n > self.n:
                extra = np.full(n - self.n, np.nan if self.dtype.kind == "f" else 0, self.dtype)
                self.array = np.concatenate([self.array, extra])
            else:
                self.array = self.array[:n].copy()
        self.n = n

    def column(self) -> npt.NDArray[Any]:
        if self.array is not None:
            return self.array
        value = np.zeros(1, self.dtype) if self.value is _UNSET else np.array([self.value])
        return np.broadcast_to(value.astype(self.dtype), (self.n,))


def _all_equal(block: npt.NDArray[Any], value: Any) -> bool:
    if block.dtype.kind == "f" and np.isnan(value):
        return bool(np.isnan(block).all())
    return bool((block == value).all())


@dataclass
class _Columns:
    """The frame's columns as they fill, ``n`` rows allocated."""

    n: int
    filled: int = 0
    unaligned: int = 0
    item_ids: IdArray = field(init=False)
    numbers: dict[str, _Column] = field(init=False)
    errors: dict[int, str] = field(default_factory=dict)
    outputs: list[Any] | None = None
    scores: dict[str, tuple[_Column, _Column]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.n
        self.item_ids = np.empty(n, dtype="S1")  # widened by the first page
        self.numbers = {
            "repetition": _Column(n, np.int64),
            "status": _Column(n, np.int8),
            "passed": _Column(n, np.float64),
            "latency_ms": _Column(n, np.float64),
            "cost": _Column(n, np.float64),
            "judge_cost": _Column(n, np.float64, NAN),
        }

    def resize(self, n: int) -> None:
        """Room for ``n`` rows (results added since the run was counted), or only the first
        ``n`` (results deleted meanwhile)."""
        if n > self.n:
            extra = np.empty(n - self.n, dtype=self.item_ids.dtype)
            self.item_ids = np.concatenate([self.item_ids, extra])
        else:
            self.item_ids = self.item_ids[:n].copy()
        for column in [*self.numbers.values(), *(c for pair in self.scores.values() for c in pair)]:
            column.resize(n)
        self.n = n

    def score(self, name: str, start: int) -> tuple[_Column, _Column]:
        """A score's columns (NaN on the rows before ``start`` when it first shows there)."""
        found = self.scores.get(name)
        if found is None:
            fill = NAN if start else _UNSET
            found = self.scores[name] = (
                _Column(self.n, np.float64, fill),
                _Column(self.n, np.float64, fill),
            )
        return found


def _floats(values: Sequence[Any]) -> FloatArray:
    """Numbers (or 0/1 and booleans) with None as NaN."""
    if values.count(None) == len(values):  # a column nothing was recorded in (costs)
        return np.full(len(values), NAN)
    return np.array(values, dtype=np.float64)


def _flags(codes: npt.NDArray[np.int64]) -> FloatArray:
    """Coded pass flags (0 failed, 1 passed, 2 none) as 0.0, 1.0 or NaN."""
    flags = codes.astype(np.float64)
    flags[codes == 2] = NAN
    return flags


def _codes(values: Sequence[Any], codes: Mapping[Any, int], dtype: Any) -> npt.NDArray[Any]:
    """Each value's code (a page usually holds one value: one lookup then)."""
    distinct = set(values)
    if len(distinct) == 1:
        return np.full(len(values), codes[distinct.pop()], dtype=dtype)
    return np.fromiter(map(codes.__getitem__, values), dtype, len(values))


def _index(values: Sequence[str]) -> dict[str, int]:
    return {v: i for i, v in enumerate(values)}


@dataclass
class _Results:
    """A page's kept results (those with an item id) as columns."""

    ids: Sequence[str]
    items: Sequence[str]
    repetition: npt.NDArray[np.int64]
    status: npt.NDArray[np.int8]
    passed: FloatArray
    latency_ms: Sequence[Any]
    cost: Sequence[Any]
    errors: Sequence[str | None]
    outputs: Sequence[Any] | None


def _results(
    rows: list[tuple[Any, ...]], codes: Codes | None, outputs: bool
) -> tuple[_Results | None, int]:
    """A page's kept results, and how many were left out; None for a coded page holding a
    value its codes do not list."""
    width = (8 if codes is None else 6) + outputs
    columns = list(zip(*rows, strict=True)) or [()] * width
    if codes is not None and None in columns[2]:
        return None, 0
    left_out = 0
    if None in columns[1]:  # results without an item id are not aligned
        kept = [r for r in rows if r[1] is not None]
        left_out = len(rows) - len(kept)
        columns = list(zip(*kept, strict=True)) or [()] * width
    if codes is None:
        try:
            status = _codes(columns[3], _CODE, np.int8)
        except KeyError as exc:
            raise InvalidInput(f"unknown result status {exc.args[0]!r}", field="status") from None
        repetition, passed = np.array(columns[2], dtype=np.int64), _floats(columns[4])
        rest = columns[5:]
    else:
        code, flag = np.divmod(np.array(columns[2], dtype=np.int64), 3)
        repetition, status = np.divmod(code, len(codes.statuses))
        passed = _flags(flag)
        rest = columns[3:]
    page = _Results(
        ids=columns[0],
        items=columns[1],
        repetition=repetition,
        status=status.astype(np.int8, copy=False),
        passed=passed,
        latency_ms=rest[0],
        cost=rest[1],
        errors=rest[2],
        outputs=rest[3] if outputs else None,
    )
    return page, left_out


@dataclass
class _Scores:
    """A page's scores of its kept results as arrays: each one's row, name (an index in
    ``names``), source rank, value, pass flag and cost."""

    at: npt.NDArray[np.intp]
    names: Sequence[str]
    name: npt.NDArray[np.intp]
    rank: npt.NDArray[np.intp]
    value: FloatArray
    passed: FloatArray
    cost: FloatArray

    def kept(self, keep: npt.NDArray[np.bool_]) -> _Scores:
        return _Scores(
            self.at[keep],
            self.names,
            self.name[keep],
            self.rank[keep],
            self.value[keep],
            self.passed[keep],
            self.cost[keep],
        )


def _scores(
    rows: list[tuple[Any, ...]], codes: Codes | None, row_of: dict[str, int]
) -> _Scores | None:
    """A page's scores of its kept results (scores of results left out are left out with
    them); None for a coded page holding a value its codes do not list."""
    columns = list(zip(*rows, strict=True)) or [()] * (6 if codes is None else 4)
    if codes is not None and None in columns[1]:
        return None
    at = np.fromiter(map(row_of.get, columns[0], repeat(-1)), dtype=np.intp, count=len(rows))
    if codes is None:
        _, names_of, numeric, passed, sources, cost = columns
        names = list(dict.fromkeys(names_of))
        ranked = _sources(set(sources))
        scores = _Scores(
            at,
            names,
            _codes(names_of, _index(names), np.intp),
            _codes(sources, _index(ranked), np.intp),
            _floats(numeric),
            _floats(passed),
            _floats(cost),
        )
    else:
        _, code, numeric, cost = columns
        rest, flag = np.divmod(np.array(code, dtype=np.int64), 3)
        name, rank = np.divmod(rest, len(codes.sources))
        scores = _Scores(
            at,
            codes.names,
            name.astype(np.intp),
            rank.astype(np.intp),
            _floats(numeric),
            _flags(flag),
            _floats(cost),
        )
    known = at >= 0
    return scores if known.all() else scores.kept(known)


def _add_results(cols: _Columns, page: _Results, sqlite: bool) -> None:
    """Fill the next rows from a page of results."""
    k = len(page.ids)
    start, end = cols.filled, cols.filled + k
    if end > cols.n:
        cols.resize(end)
    ids = encode(page.items)
    if ids.dtype.itemsize > cols.item_ids.dtype.itemsize:  # never cut an id short
        cols.item_ids = cols.item_ids.astype(ids.dtype)
    cols.item_ids[start:end] = ids
    numbers = cols.numbers
    numbers["repetition"].put(start, page.repetition)
    numbers["status"].put(start, page.status)
    numbers["passed"].put(start, page.passed)
    numbers["latency_ms"].put(start, _floats(page.latency_ms))
    numbers["cost"].put(start, _floats(page.cost))
    if page.errors.count(None) != k:
        cols.errors.update({start + i: e for i, e in enumerate(page.errors) if e is not None})
    if cols.outputs is not None and page.outputs is not None:
        raw = page.outputs
        cols.outputs.extend([None if v is None else loads(v) for v in raw] if sqlite else raw)
    cols.filled = end


def _judge_cost(scores: _Scores, k: int) -> FloatArray:
    """The scores' costs summed on their rows (in the order given, as ``np.add.at`` sums),
    NaN on rows without one."""
    has = ~np.isnan(scores.cost)
    if not has.any():
        return np.full(k, NAN)
    rows = scores.at[has]
    judge = np.bincount(rows, weights=scores.cost[has], minlength=k).astype(np.float64, copy=False)
    judge[np.bincount(rows, minlength=k) == 0] = NAN
    return judge


def _add_scores(cols: _Columns, scores: _Scores, k: int, start: int) -> None:
    """Set the page's scores on its ``k`` rows (the highest ranked source of a name wins;
    NaN for a name the page lacks) and their costs summed as the rows' judge cost."""
    cols.numbers["judge_cost"].put(start, _judge_cost(scores, k))
    present = np.flatnonzero(np.bincount(scores.name, minlength=len(scores.names)))
    slot = np.zeros(len(scores.names), dtype=np.intp)
    slot[present] = np.arange(present.size)
    grid = np.full((present.size, 2, k), NAN)  # per name present: values and pass flags
    name = slot[scores.name]
    ranks = np.flatnonzero(np.bincount(scores.rank))
    # A name has one score per source on a result (a unique index holds them so): with one
    # source present, every score is its name's on its row.
    picks: list[Any] = [slice(None)] if ranks.size == 1 else [scores.rank == r for r in ranks]
    for pick in picks:  # later (higher ranked) sources overwrite
        grid[name[pick], 0, scores.at[pick]] = scores.value[pick]
        grid[name[pick], 1, scores.at[pick]] = scores.passed[pick]
    blocks = {scores.names[i]: grid[j] for j, i in enumerate(present.tolist())}
    missing = np.full((2, k), NAN)
    for key in sorted(blocks.keys() | cols.scores.keys()):
        value, flag = blocks.get(key, missing)
        value_column, flag_column = cols.score(key, start)
        value_column.put(start, value)
        flag_column.put(start, flag)


def _add_page(cols: _Columns, page: Page, codes: Codes | None, outputs: bool, sqlite: bool) -> bool:
    """Add a page of results and scores; False (nothing added) for a coded page holding a
    value its codes do not list."""
    rows, score_rows = page
    results, left_out = _results(rows, codes, outputs)
    if results is None:
        return False
    if not results.ids:
        cols.unaligned += left_out
        return True
    start = cols.filled
    row_of = dict(zip(results.ids, range(len(results.ids)), strict=True))
    scores = _scores(score_rows, codes, row_of)
    if scores is None:
        return False
    cols.unaligned += left_out
    _add_results(cols, results, sqlite)
    _add_scores(cols, scores, len(results.ids), start)
    return True


def read_frame(
    store: Store,
    experiment: Experiment,
    *,
    outputs: bool,
    page: int = PAGE,
    spreads: Mapping[str, tuple[float, int, int]] | None = None,
) -> RunFrame:
    """The frame of a stored run, read from its result and score rows.

    Without ``outputs``, the frame reads outputs on demand (``fetch_outputs``). ``spreads``
    (the judges' noise, when the caller read it) travels with the frame.
    """
    db = store.db
    span = run_span(db, experiment.id)
    cols = _Columns(span.count, outputs=[] if outputs else None)
    codes = Codes(_STATUSES, _RANKED, score_names(db, experiment.id))
    pages = coded_pages(db, experiment.id, codes, page=page, outputs=outputs, span=span)
    for coded, (first, last) in pages:
        if not _add_page(cols, coded, codes, outputs, db.is_sqlite):
            plain = plain_page(db, experiment.id, first, last, outputs=outputs)
            _add_page(cols, plain, None, outputs, db.is_sqlite)
    if cols.filled != cols.n:  # unaligned results, or results deleted meanwhile
        cols.resize(cols.filled)
    numbers: dict[str, Any] = {name: column.column() for name, column in cols.numbers.items()}
    return RunFrame(
        run_id=experiment.id,
        name=experiment.name,
        item_ids=cols.item_ids,
        scores={
            k: ScoreColumn(v.column(), p.column()) for k, (v, p) in sorted(cols.scores.items())
        },
        dataset_id=experiment.dataset_id,
        dataset_version=experiment.dataset_version,
        outputs=cols.outputs,
        errors=RowTexts(cols.filled, cols.errors),
        unaligned=cols.unaligned,
        fetch_outputs=None if outputs else partial(outputs_of, db, experiment.id),
        judge_spreads=spreads,
        distinct_keys=True,
        **numbers,
    )
