"""A stored run read into a :class:`RunFrame` page by page, straight into NumPy columns.

The results are read in keyset pages of the primary key, each with its scores off the score
index (see :func:`assay.store.run_pages.result_pages`); every page is turned into array slices
at once, so no Python object per row outlives its page. The columns are allocated up front
from the run's size (one count off a result index); a numeric column is allocated only once a
page shows it does not hold one value on every row (see :class:`~assay.analysis.frame.RunFrame`).
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
from assay.domain import Experiment
from assay.errors import InvalidInput
from assay.store import Store
from assay.store.run_columns import outputs_of
from assay.store.run_pages import result_pages, run_span
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


def _codes(values: Sequence[Any], codes: Mapping[Any, int], dtype: Any) -> npt.NDArray[Any]:
    """Each value's code (a page usually holds one value: one lookup then)."""
    distinct = set(values)
    if len(distinct) == 1:
        return np.full(len(values), codes[distinct.pop()], dtype=dtype)
    return np.fromiter(map(codes.__getitem__, values), dtype, len(values))


def _add_results(cols: _Columns, rows: list[tuple[Any, ...]], sqlite: bool) -> dict[str, int]:
    """Fill the next rows from a page of results; the row of each result id kept (counted
    from the page's first row)."""
    columns = list(zip(*rows, strict=True))
    if None in columns[1]:  # results without an item id are not aligned
        kept = [r for r in rows if r[1] is not None]
        cols.unaligned += len(rows) - len(kept)
        if not kept:
            return {}
        columns = list(zip(*kept, strict=True))
    k = len(columns[0])
    start, end = cols.filled, cols.filled + k
    if end > cols.n:
        cols.resize(end)
    try:
        status = _codes(columns[3], _CODE, np.int8)
    except KeyError as exc:
        raise InvalidInput(f"unknown result status {exc.args[0]!r}", field="status") from None
    ids = encode(columns[1])
    if ids.dtype.itemsize > cols.item_ids.dtype.itemsize:  # never cut an id short
        cols.item_ids = cols.item_ids.astype(ids.dtype)
    cols.item_ids[start:end] = ids
    numbers = cols.numbers
    numbers["repetition"].put(start, np.array(columns[2], dtype=np.int64))
    numbers["status"].put(start, status)
    for name, at in (("passed", 4), ("latency_ms", 5), ("cost", 6)):
        numbers[name].put(start, _floats(columns[at]))
    errors = columns[7]
    if errors.count(None) != k:
        cols.errors.update({start + i: e for i, e in enumerate(errors) if e is not None})
    if cols.outputs is not None:
        raw = columns[8]
        cols.outputs.extend([None if v is None else loads(v) for v in raw] if sqlite else raw)
    cols.filled = end
    return dict(zip(columns[0], range(k), strict=True))


def _judge_cost(at: npt.NDArray[np.intp], costs: FloatArray, k: int) -> FloatArray:
    """The scores' costs summed on their rows ``at`` (in the order given, as ``np.add.at``
    sums), NaN on rows without one."""
    has = ~np.isnan(costs)
    if not has.any():
        return np.full(k, NAN)
    rows = at[has]
    judge = np.bincount(rows, weights=costs[has], minlength=k).astype(np.float64, copy=False)
    judge[np.bincount(rows, minlength=k) == 0] = NAN
    return judge


def _scores_of(
    rows: list[tuple[Any, ...]], row_of: dict[str, int]
) -> tuple[list[tuple[Any, ...]], npt.NDArray[np.intp]]:
    """The columns of the scores of the page's kept results, and each score's row (scores of
    results left out, those without an item id, are left out with them)."""
    columns = list(zip(*rows, strict=True)) or [()] * 6
    at = np.fromiter(map(row_of.get, columns[0], repeat(-1)), dtype=np.intp, count=len(rows))
    if (at < 0).any():
        kept = [row for row, i in zip(rows, at.tolist(), strict=True) if i >= 0]
        return list(zip(*kept, strict=True)) or [()] * 6, at[at >= 0]
    return columns, at


def _add_scores(
    cols: _Columns, rows: list[tuple[Any, ...]], row_of: dict[str, int], start: int
) -> None:
    """Set the page's scores on its rows (the highest ranked source of a name wins; NaN for a
    name the page lacks) and their costs summed as the rows' judge cost."""
    k = len(row_of)
    columns, at = _scores_of(rows, row_of)
    _, names_of, numeric, passed, sources, cost = columns
    names = list(dict.fromkeys(names_of))
    grid = np.full((len(names), 2, k), NAN)  # per name: its values and pass flags
    if names:
        name_of = _codes(names_of, _index(names), np.intp)
        values, flags = _floats(numeric), _floats(passed)
        ranked = _sources(set(sources))
        # A name has one score per source on a result (a unique index holds them so): with one
        # source present, every score is its name's on its row.
        picks: list[Any] = [slice(None)]
        if len(ranked) > 1:  # later (higher ranked) sources overwrite
            source_of = _codes(sources, _index(ranked), np.intp)
            picks = [source_of == j for j in range(len(ranked))]
        for pick in picks:
            grid[name_of[pick], 0, at[pick]] = values[pick]
            grid[name_of[pick], 1, at[pick]] = flags[pick]
    cols.numbers["judge_cost"].put(start, _judge_cost(at, _floats(cost), k))
    blocks = dict(zip(names, grid, strict=True))
    missing = np.full((2, k), NAN)
    for name in sorted(blocks.keys() | cols.scores.keys()):
        value, flag = blocks.get(name, missing)
        value_column, flag_column = cols.score(name, start)
        value_column.put(start, value)
        flag_column.put(start, flag)


def _index(values: Sequence[str]) -> dict[str, int]:
    return {v: i for i, v in enumerate(values)}


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
    pages = result_pages(db, experiment.id, page=page, outputs=outputs, span=span)
    for rows, score_rows in pages:
        start = cols.filled
        row_of = _add_results(cols, rows, db.is_sqlite)
        if row_of:
            _add_scores(cols, score_rows, row_of, start)
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
