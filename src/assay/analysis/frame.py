"""A run's results as columns: what every comparison, gate and trend computation reads.

:class:`RunFrame` holds one row per result (item, repetition) in numpy arrays, so the analysis
is vectorised and never walks pydantic objects twice. Build one from stored records with
:meth:`RunFrame.from_results`, or straight from columns (storage can fill them from SQL).
Missing numbers are NaN; pass/fail columns hold 1.0, 0.0 or NaN (unknown).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from assay.domain import Experiment, Result, ResultStatus, ScoreSource
from assay.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]

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
    """The results of one run (experiment), as aligned columns."""

    run_id: str
    name: str
    item_ids: npt.NDArray[np.str_]
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

    def __post_init__(self) -> None:
        n = len(self.item_ids)
        columns: dict[str, Any] = {
            "repetition": self.repetition,
            "status": self.status,
            "passed": self.passed,
            "latency_ms": self.latency_ms,
            "cost": self.cost,
            "judge_cost": self.judge_cost,
            "outputs": self.outputs,
            "errors": self.errors,
        }
        columns.update({f"scores.{k}.value": c.value for k, c in self.scores.items()})
        columns.update({f"scores.{k}.passed": c.passed for k, c in self.scores.items()})
        for name, column in columns.items():
            if column is not None and len(column) != n:
                raise InvalidInput(
                    f"column {name} has {len(column)} rows, expected {n}",
                    field=name,
                    run_id=self.run_id,
                )
        distinct = len(set(self.keys())) if self.repeated else len(self.observed_items)
        if distinct != n:
            self._duplicate()

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

    def keys(self) -> list[tuple[str, int]]:
        """(item_id, repetition) of each row."""
        return list(zip(self.item_ids.tolist(), self.repetition.tolist(), strict=True))

    @cached_property
    def index(self) -> Mapping[tuple[str, int], int]:
        """Row of each (item_id, repetition)."""
        return {key: row for row, key in enumerate(self.keys())}

    @cached_property
    def items(self) -> frozenset[str]:
        """Items the run covers: its selection when known, else the items it has results for."""
        return self.observed_items if self.selection is None else self.selection

    @cached_property
    def observed_items(self) -> frozenset[str]:
        """Items the run has results for."""
        return frozenset(self.item_ids.tolist())

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
        out = np.where(self.passed == 1.0, 1.0, 0.0)
        return np.where(self.finished, out, np.nan)

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
            item_ids=np.array(ids, dtype=np.str_),
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


def align(base: RunFrame, other: RunFrame) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Rows of ``base`` and of ``other`` holding the same (item, repetition), in base order.

    Two runs planned from the same items line up row for row; that common case is checked
    in one vectorised comparison before falling back to a lookup per row.
    """
    if (
        len(base) == len(other)
        and np.array_equal(base.item_ids, other.item_ids)
        and np.array_equal(base.repetition, other.repetition)
    ):
        rows = np.arange(len(base), dtype=np.intp)
        return rows, rows.copy()
    index = other.index
    a: list[int] = []
    b: list[int] = []
    for row, key in enumerate(base.keys()):
        j = index.get(key)
        if j is not None:
            a.append(row)
            b.append(j)
    return np.array(a, dtype=np.intp), np.array(b, dtype=np.intp)


def item_codes(run: RunFrame) -> npt.NDArray[np.intp]:
    """One integer per row naming its item: rows of the same item (trials) share it."""
    if not run.repeated:
        return np.arange(len(run), dtype=np.intp)
    _, codes = np.unique(run.item_ids, return_inverse=True)
    return codes.astype(np.intp)
