"""A run's results as columns: what every comparison, gate and trend computation reads.

:class:`RunFrame` holds one row per result (item, repetition) in numpy arrays, so the analysis
is vectorised and never walks pydantic objects twice. Build one from stored records with
:meth:`RunFrame.from_results`, or straight from columns (storage can fill them from SQL).
Missing numbers are NaN; pass/fail columns hold 1.0, 0.0 or NaN (unknown).

A frame is sized for a million rows: item ids are one byte array (see
:mod:`assay.analysis.item_keys`), a column holding one value on every row (repetitions of a
run without trials, judge costs of a run without judges, a numeric scorer's pass flags) is
that value broadcast over the rows, and error texts are kept for the rows that have one.
Columns are read-only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from assay.analysis.item_keys import IdArray, IntArray, encode, find, has_duplicates, keyed
from assay.analysis.item_keys import decode as decode_ids
from assay.domain import Experiment, Result, ResultStatus, ScoreSource
from assay.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]
#: The numeric columns of a frame, besides its scores.
COLUMNS = ("repetition", "status", "passed", "latency_ms", "cost", "judge_cost")

#: Statuses in the order of their codes in :attr:`RunFrame.status`.
STATUSES: tuple[ResultStatus, ...] = tuple(ResultStatus)
_CODE = {s: i for i, s in enumerate(STATUSES)}
COMPLETED = _CODE[ResultStatus.completed]
FAILED = _CODE[ResultStatus.failed]
#: When one result has a score of the same name from several sources, people overrule the API,
#: which overrules evaluators.
_SOURCE_RANK = {
    ScoreSource.evaluator: 0,
    ScoreSource.online: 0,
    ScoreSource.api: 1,
    ScoreSource.human: 2,
}


def _num(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _flag(value: bool | None) -> float:
    return float("nan") if value is None else (1.0 if value else 0.0)


def compact(column: npt.ArrayLike) -> npt.NDArray[Any]:
    """``column``, or its one value broadcast over the rows (a read-only view that takes no
    memory per row) when every row holds the same value (NaN included)."""
    values = np.asarray(column)
    if values.ndim != 1 or values.size < 2 or values.strides == (0,):
        return values
    first = values[:1]
    if values.dtype.kind == "f" and np.isnan(first[0]):
        same = bool(np.isnan(values).all())
    else:
        same = bool((values == first[0]).all())
    return np.broadcast_to(first.copy(), values.shape) if same else values


class SharedColumns:
    """Columns holding the same values share one array: a pass/fail scorer's values are its
    pass flags, and a run gated on one scorer passes where that scorer does."""

    def __init__(self) -> None:
        self.seen: list[npt.NDArray[Any]] = []

    def one(self, column: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """``column``, or an earlier column holding the same values."""
        if column.strides == (0,):
            return column
        for earlier in self.seen:
            if earlier is column:
                return column
            if (
                earlier.dtype == column.dtype
                and earlier.shape == column.shape
                and np.array_equal(earlier[:64], column[:64], equal_nan=True)
                and np.array_equal(earlier, column, equal_nan=True)
            ):
                return earlier
        self.seen.append(column)
        return column


class RowTexts(Sequence[str | None]):
    """A text or None per row, holding only the rows that have a text (most results have no
    error)."""

    def __init__(self, n: int, texts: Mapping[int, str]) -> None:
        self._n = n
        self.texts = dict(texts)

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, row: int) -> str | None: ...
    @overload
    def __getitem__(self, row: slice) -> RowTexts: ...
    def __getitem__(self, row: int | slice) -> str | RowTexts | None:
        if isinstance(row, slice):
            start, _, step = row.indices(self._n)
            kept = range(*row.indices(self._n))
            return RowTexts(
                len(kept), {(r - start) // step: t for r, t in self.texts.items() if r in kept}
            )
        if not -self._n <= row < self._n:
            raise IndexError(row)
        return self.texts.get(row % self._n)

    def __iter__(self) -> Iterator[str | None]:
        return (self.texts.get(row) for row in range(self._n))

    def take(self, rows: IntArray) -> RowTexts:
        """The texts of ``rows``, in that order."""
        if not self.texts:
            return RowTexts(rows.size, {})
        hit = np.flatnonzero(np.isin(rows, np.fromiter(self.texts, dtype=np.intp)))
        return RowTexts(
            rows.size,
            {i: self.texts[r] for i, r in zip(hit.tolist(), rows[hit].tolist(), strict=True)},
        )


@dataclass(frozen=True, eq=False)
class ScoreColumn:
    """One scorer's values over a run's rows: the numeric value and the pass flag."""

    value: FloatArray
    passed: FloatArray

    @property
    def is_pass_fail(self) -> bool:
        """Pass/fail when every scored row carries a pass flag."""
        scored = ~np.isnan(self.value) | ~np.isnan(self.passed)
        return bool(scored.any()) and not bool(np.isnan(self.passed[scored]).any())

    def metric(self) -> FloatArray:
        """What the statistics compare: the pass flag for pass/fail scorers, else the value."""
        return self.passed if self.is_pass_fail else self.value


OutputFetcher = Callable[[Sequence[tuple[str, int]]], Mapping[tuple[str, int], Any]]


@dataclass(frozen=True, eq=False)
class RunFrame:
    """The results of one run (experiment), as aligned columns.

    ``item_ids`` may be given as strings; the frame keeps their UTF-8 bytes (see
    :mod:`assay.analysis.item_keys`): :meth:`id_list`, :meth:`keys` and :meth:`row_of` speak
    strings."""

    run_id: str
    name: str
    item_ids: IdArray
    repetition: npt.NDArray[np.int64]
    status: npt.NDArray[np.int8]
    passed: FloatArray
    latency_ms: FloatArray
    cost: FloatArray
    judge_cost: FloatArray
    scores: Mapping[str, ScoreColumn]
    dataset_id: str | None = None
    dataset_version: int | None = None
    selection: frozenset[str] | None = None
    outputs: Sequence[Any] | None = None
    errors: Sequence[str | None] | None = None
    unaligned: int = 0
    #: Items whose ids were mapped onto the baseline's by content (runs of other datasets).
    content_aligned: int = 0
    # Reads the outputs of some (item_id, repetition) keys when ``outputs`` was not loaded:
    # a page of a comparison then reads its own rows' outputs only.
    fetch_outputs: OutputFetcher | None = None
    #: Judge noise per score name, as :func:`assay.store.run_columns.judge_spreads` gives it,
    #: when the frame was stored with it (None: not known, read it from the store).
    judge_spreads: Mapping[str, tuple[float, int, int]] | None = None
    #: The (item, repetition) keys are known to be distinct, as in rows read from the store
    #: (a unique index holds them so): they are not checked again.
    distinct_keys: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "item_ids", encode(self.item_ids))
        n = len(self.item_ids)
        columns: dict[str, Any] = {c: getattr(self, c) for c in COLUMNS}
        columns.update(outputs=self.outputs, errors=self.errors)
        columns.update({f"scores.{k}.value": c.value for k, c in self.scores.items()})
        columns.update({f"scores.{k}.passed": c.passed for k, c in self.scores.items()})
        for name, column in columns.items():
            if column is not None and len(column) != n:
                raise InvalidInput(
                    f"column {name} has {len(column)} rows, expected {n}",
                    field=name,
                    run_id=self.run_id,
                )
        for name in COLUMNS:
            set_(self, name, compact(getattr(self, name)))
        same = SharedColumns()
        set_(self, "passed", same.one(self.passed))
        set_(
            self,
            "scores",
            {
                k: ScoreColumn(same.one(compact(c.value)), same.one(compact(c.passed)))
                for k, c in self.scores.items()
            },
        )
        if not self.distinct_keys and has_duplicates(self._keys()):
            self._duplicate()

    def _keys(self) -> IdArray:
        """One distinct byte string per (item, repetition) (the ids alone without trials)."""
        if not self.repeated:
            return self.item_ids
        return keyed(self.item_ids, self.repetition, self.item_ids.dtype.itemsize)

    def _duplicate(self) -> None:
        seen: set[tuple[str, int]] = set()
        for row, key in enumerate(self.keys()):
            if key in seen:
                raise InvalidInput(
                    f"run {self.name!r} has two results for item {key[0]} repetition {key[1]}",
                    row=row,
                    field="item_id",
                    run_id=self.run_id,
                )
            seen.add(key)

    def __len__(self) -> int:
        return len(self.item_ids)

    def id_list(self, rows: IntArray | None = None) -> list[str]:
        """The item id of each row (of ``rows``), as strings."""
        return decode_ids(self.item_ids if rows is None else self.item_ids[rows])

    def keys(self, rows: IntArray | None = None) -> list[tuple[str, int]]:
        """(item_id, repetition) of each row (of ``rows``)."""
        reps = self.repetition if rows is None else self.repetition[rows]
        return list(zip(self.id_list(rows), reps.tolist(), strict=True))

    def lookup(self, item_ids: IdArray, repetition: npt.NDArray[np.integer]) -> IntArray:
        """The row of each (item id, repetition), -1 where the run has none."""
        if not self.repeated and not repetition.any():
            return find(self.item_ids, item_ids)
        width = max(self.item_ids.dtype.itemsize, item_ids.dtype.itemsize)
        return find(
            keyed(self.item_ids, self.repetition, width), keyed(item_ids, repetition, width)
        )

    def row_of(self, item_id: str, repetition: int = 0) -> int | None:
        """The row of (``item_id``, ``repetition``), or None."""
        row = int(self.lookup(encode([item_id]), np.array([repetition]))[0])
        return None if row < 0 else row

    def distinct_ids(self) -> IdArray:
        """Each item the run has results for, once (in no particular order)."""
        return np.unique(self.item_ids) if self.repeated else self.item_ids

    @property
    def item_count(self) -> int:
        """How many items the run covers: its selection when known, else the items it has
        results for."""
        if self.selection is not None:
            return len(self.selection)
        return len(self.distinct_ids())

    @property
    def repeated(self) -> bool:
        """Whether some item has more than one row (trials)."""
        return bool(self.repetition.any())

    @property
    def finished(self) -> npt.NDArray[np.bool_]:
        """Rows that ran to an outcome (completed or failed), the ones statistics count."""
        done: npt.NDArray[np.bool_] = (self.status == COMPLETED) | (self.status == FAILED)
        return done

    def pass_metric(self) -> FloatArray:
        """1.0 when the result passed, 0.0 when it did not, NaN when it did not finish."""
        out: FloatArray = (self.passed == 1.0).astype(np.float64)
        out[~self.finished] = np.nan
        return out

    @classmethod
    def from_results(
        cls,
        results: Iterable[Result],
        *,
        run_id: str,
        name: str | None = None,
        dataset_id: str | None = None,
        dataset_version: int | None = None,
        selection: Iterable[str] | None = None,
    ) -> RunFrame:
        """Columns from stored result records (with their scores).

        Results without an item id (uploaded outputs that match no dataset item) cannot be
        aligned with another run; they are counted in :attr:`unaligned` and left out.
        """
        ids: list[str] = []
        reps: list[int] = []
        status: list[int] = []
        passed: list[float] = []
        latency: list[float] = []
        cost: list[float] = []
        judge: list[float] = []
        outputs: list[Any] = []
        errors: list[str | None] = []
        values: dict[str, list[float]] = {}
        flags: dict[str, list[float]] = {}
        unaligned = 0
        for row, result in enumerate(results):
            if result.item_id is None:
                unaligned += 1
                continue
            if result.experiment_id != run_id:
                raise InvalidInput(
                    f"result {result.id} belongs to run {result.experiment_id}, not {run_id}",
                    row=row,
                    field="experiment_id",
                )
            n = len(ids)
            ids.append(result.item_id)
            reps.append(result.repetition)
            status.append(_CODE[result.status])
            passed.append(_flag(result.passed))
            latency.append(_num(result.latency_ms))
            cost.append(_num(result.cost))
            outputs.append(result.output)
            errors.append(result.error)
            score_cost = [s.cost for s in result.scores if s.cost is not None]
            judge.append(float(sum(score_cost)) if score_cost else float("nan"))
            for score in sorted(result.scores, key=lambda s: _SOURCE_RANK[s.source]):
                if score.name not in values:
                    values[score.name] = [float("nan")] * n
                    flags[score.name] = [float("nan")] * n
                column, flag = values[score.name], flags[score.name]
                if len(column) > n:  # same name from another source: the later rank wins
                    column.pop()
                    flag.pop()
                column.append(_num(score.numeric_value))
                flag.append(_flag(score.passed))
            for name_, column in values.items():
                if len(column) == n:  # this result has no score of that name
                    column.append(float("nan"))
                    flags[name_].append(float("nan"))
        scores = {
            k: ScoreColumn(np.array(values[k], dtype=np.float64), np.array(flags[k]))
            for k in values
        }
        return cls(
            run_id=run_id,
            name=name or run_id,
            item_ids=encode(ids),
            repetition=np.array(reps, dtype=np.int64),
            status=np.array(status, dtype=np.int8),
            passed=np.array(passed, dtype=np.float64),
            latency_ms=np.array(latency, dtype=np.float64),
            cost=np.array(cost, dtype=np.float64),
            judge_cost=np.array(judge, dtype=np.float64),
            scores=scores,
            dataset_id=dataset_id,
            dataset_version=dataset_version,
            selection=None if selection is None else frozenset(selection),
            outputs=outputs,
            errors=errors,
            unaligned=unaligned,
        )

    @classmethod
    def from_experiment(cls, experiment: Experiment, results: Iterable[Result]) -> RunFrame:
        """Columns for a stored experiment, carrying its name, dataset version and selection."""
        raw = (experiment.selection or {}).get("item_ids")
        selection = [str(i) for i in raw] if isinstance(raw, list) else None
        return cls.from_results(
            results,
            run_id=experiment.id,
            name=experiment.name,
            dataset_id=experiment.dataset_id,
            dataset_version=experiment.dataset_version,
            selection=selection,
        )


def same_rows(base: RunFrame, other: RunFrame) -> bool:
    """Whether the two runs hold the same (item, repetition) on every row."""
    return (
        len(base) == len(other)
        and np.array_equal(base.item_ids, other.item_ids)
        and np.array_equal(base.repetition, other.repetition)
    )


def align(base: RunFrame, other: RunFrame) -> tuple[IntArray, IntArray]:
    """Rows of ``base`` and of ``other`` holding the same (item, repetition), in base order.

    Two runs planned from the same items line up row for row; that common case is checked
    in one vectorised comparison (and both sides are then one read-only array) before the
    keys are looked up by sorting (:meth:`RunFrame.lookup`).
    """
    if same_rows(base, other):
        rows = np.arange(len(base), dtype=np.intp)
        rows.flags.writeable = False
        return rows, rows
    found = other.lookup(base.item_ids, base.repetition)
    a = np.flatnonzero(found >= 0)
    return a, found[a]


def item_codes(run: RunFrame) -> npt.NDArray[np.intp]:
    """One integer per row naming its item: rows of the same item (trials) share it."""
    if not run.repeated:
        return np.arange(len(run), dtype=np.intp)
    _, codes = np.unique(run.item_ids, return_inverse=True)
    return codes.astype(np.intp)
