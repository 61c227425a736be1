"""A stored run read into a :class:`RunFrame` page by page, straight into NumPy columns.

The results are read in keyset pages of the primary key, each with its scores off the score
index (see :func:`assay.store.run_pages.result_pages`); every page is turned into array slices
at once, so no Python object per row outlives its page. The columns are allocated up front
from the run's size (one count off the run's item index).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from assay.analysis.frame import STATUSES, FloatArray, RunFrame, ScoreColumn
from assay.domain import Experiment
from assay.errors import InvalidInput
from assay.store import Store
from assay.store.run_columns import outputs_of
from assay.store.run_pages import result_pages, run_size
from assay.store.types import loads

#: Results per page: a few MB of row tuples at a time.
PAGE = 20_000
_CODE = {s.value: i for i, s in enumerate(STATUSES)}
#: When one result has scores of the same name from several sources, later sources win
#: (sources not listed rank above these, alphabetically).
SOURCE_ORDER = ("evaluator", "api", "human")
NAN = float("nan")


def _sources(present: set[str]) -> list[str]:
    return [s for s in SOURCE_ORDER if s in present] + sorted(present - set(SOURCE_ORDER))


@dataclass
class _Columns:
    """The frame's columns as they fill, ``n`` rows allocated."""

    n: int
    width: int
    filled: int = 0
    unaligned: int = 0
    item_ids: npt.NDArray[np.str_] = field(init=False)
    repetition: npt.NDArray[np.int64] = field(init=False)
    status: npt.NDArray[np.int8] = field(init=False)
    passed: FloatArray = field(init=False)
    latency_ms: FloatArray = field(init=False)
    cost: FloatArray = field(init=False)
    judge_cost: FloatArray = field(init=False)
    judged: npt.NDArray[np.int64] = field(init=False)
    errors: list[str | None] = field(init=False)
    outputs: list[Any] | None = None
    scores: dict[str, ScoreColumn] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = self.n
        self.item_ids = np.empty(n, dtype=f"<U{max(self.width, 1)}")
        self.repetition = np.empty(n, dtype=np.int64)
        self.status = np.empty(n, dtype=np.int8)
        self.passed = np.empty(n)
        self.latency_ms = np.empty(n)
        self.cost = np.empty(n)
        self.judge_cost = np.zeros(n)
        self.judged = np.zeros(n, dtype=np.int64)
        self.errors = [None] * n

    def reserve(self, end: int) -> None:
        """Room for ``end`` rows (results added since the run was counted)."""
        extra = end - self.n
        if extra <= 0:
            return
        for name in ("item_ids", "repetition", "status", "passed", "latency_ms", "cost"):
            column = getattr(self, name)
            setattr(self, name, np.concatenate([column, np.empty(extra, dtype=column.dtype)]))
        self.judge_cost = np.concatenate([self.judge_cost, np.zeros(extra)])
        self.judged = np.concatenate([self.judged, np.zeros(extra, dtype=np.int64)])
        self.errors.extend([None] * extra)
        self.scores = {
            name: ScoreColumn(
                np.concatenate([c.value, np.full(extra, NAN)]),
                np.concatenate([c.passed, np.full(extra, NAN)]),
            )
            for name, c in self.scores.items()
        }
        self.n = end

    def score(self, name: str) -> ScoreColumn:
        found = self.scores.get(name)
        if found is None:
            found = self.scores[name] = ScoreColumn(np.full(self.n, NAN), np.full(self.n, NAN))
        return found


def _floats(values: Sequence[Any]) -> FloatArray:
    """Numbers (or 0/1 and booleans) with None as NaN."""
    return np.array(values, dtype=np.float64)


def _add_results(cols: _Columns, rows: list[tuple[Any, ...]], sqlite: bool) -> dict[str, int]:
    """Fill the next rows from a page of results; the row of each result id kept."""
    kept = [r for r in rows if r[1] is not None]
    cols.unaligned += len(rows) - len(kept)
    if not kept:
        return {}
    columns = list(zip(*kept, strict=True))
    start, end = cols.filled, cols.filled + len(kept)
    cols.reserve(end)
    try:
        status = list(map(_CODE.__getitem__, columns[3]))
    except KeyError as exc:
        raise InvalidInput(f"unknown result status {exc.args[0]!r}", field="status") from None
    width = max(map(len, columns[1]))
    if width > cols.item_ids.dtype.itemsize // 4:  # never cut an id short
        cols.item_ids = cols.item_ids.astype(f"<U{width}")
    cols.item_ids[start:end] = columns[1]
    cols.repetition[start:end] = columns[2]
    cols.status[start:end] = status
    cols.passed[start:end] = _floats(columns[4])
    cols.latency_ms[start:end] = _floats(columns[5])
    cols.cost[start:end] = _floats(columns[6])
    cols.errors[start:end] = columns[7]
    if cols.outputs is not None:
        raw = columns[8]
        cols.outputs.extend([None if v is None else loads(v) for v in raw] if sqlite else raw)
    cols.filled = end
    return dict(zip(columns[0], range(start, end), strict=True))


def _add_scores(cols: _Columns, rows: list[tuple[Any, ...]], row_of: dict[str, int]) -> None:
    """Set the page's scores on their rows (the highest ranked source of a name wins) and
    add their costs to the rows' judge cost."""
    result_ids, names, numeric, passed, sources, cost = zip(*rows, strict=True)
    at = np.fromiter(map(row_of.get, result_ids, repeat(-1)), dtype=np.intp, count=len(rows))
    values, flags, costs = _floats(numeric), _floats(passed), _floats(cost)
    known = at >= 0
    has_cost = known & ~np.isnan(costs)
    np.add.at(cols.judge_cost, at[has_cost], costs[has_cost])
    np.add.at(cols.judged, at[has_cost], 1)
    distinct, present = set(names), set(sources)
    name_of = np.array(names) if len(distinct) > 1 else None
    source_of = np.array(sources) if len(present) > 1 else None
    for name in distinct:
        column = cols.score(name)
        named = known if name_of is None else known & (name_of == name)
        for source in _sources(present):
            pick = named if source_of is None else named & (source_of == source)
            target = at[pick]
            column.value[target] = values[pick]
            column.passed[target] = flags[pick]


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
    n, width = run_size(db, experiment.id)
    cols = _Columns(n, width, outputs=[] if outputs else None)
    for rows, score_rows in result_pages(db, experiment.id, page=page, outputs=outputs):
        row_of = _add_results(cols, rows, db.is_sqlite)
        if score_rows and row_of:
            _add_scores(cols, score_rows, row_of)
    if cols.filled != n:  # results were deleted meanwhile: keep what was read
        cols = _trimmed(cols)
    judge = cols.judge_cost
    judge[cols.judged == 0] = NAN
    return RunFrame(
        run_id=experiment.id,
        name=experiment.name,
        item_ids=cols.item_ids,
        repetition=cols.repetition,
        status=cols.status,
        passed=cols.passed,
        latency_ms=cols.latency_ms,
        cost=cols.cost,
        judge_cost=judge,
        scores=dict(sorted(cols.scores.items())),
        dataset_id=experiment.dataset_id,
        dataset_version=experiment.dataset_version,
        outputs=cols.outputs,
        errors=cols.errors,
        unaligned=cols.unaligned,
        fetch_outputs=None if outputs else partial(outputs_of, db, experiment.id),
        judge_spreads=spreads,
    )


def _trimmed(cols: _Columns) -> _Columns:
    """``cols`` cut to the rows filled."""
    k = cols.filled
    out = _Columns(0, cols.width, k, cols.unaligned, outputs=cols.outputs)
    out.n = k
    for name in ("item_ids", "repetition", "status", "passed", "latency_ms", "cost"):
        setattr(out, name, getattr(cols, name)[:k].copy())
    out.judge_cost, out.judged = cols.judge_cost[:k].copy(), cols.judged[:k].copy()
    out.errors = cols.errors[:k]
    out.scores = {
        name: ScoreColumn(c.value[:k].copy(), c.passed[:k].copy())
        for name, c in cols.scores.items()
    }
    return out
