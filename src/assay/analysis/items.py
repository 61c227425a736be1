"""Per-item rows of a comparison, and the filters over them."""

from __future__ import annotations

import gc
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt

from assay.analysis.frame import FAILED, STATUSES, RunFrame, align
from assay.analysis.textdiff import as_text, word_diff
from assay.domain import Cell, Change, DiffOp, ItemFilter, ItemRow, ResultStatus
from assay.errors import InvalidInput

_MANY_ROWS = 1000
#: A column: a numpy array, or the same values as a list once many rows need them.
_Values = npt.NDArray[Any] | list[Any]
_FILTERS = ("regressions", "improvements", "changed", "failed")


def _opt(x: float) -> float | None:
    return None if math.isnan(x) else x


def _flag(x: float) -> bool | None:
    return None if math.isnan(x) else x == 1.0


class _Columns:
    """One run's columns for building item rows: numpy arrays read row by row for a page,
    Python lists (converted once) when many rows are built."""

    def __init__(self, run: RunFrame) -> None:
        self.run_id = run.run_id
        self.index = run.index
        self.pass_metric: _Values = run.pass_metric()
        self.outputs: Sequence[Any] = run.outputs or [None] * len(run)
        self.errors: Sequence[str | None] = run.errors or [None] * len(run)
        self.scores: dict[str, _Values] = {k: c.metric() for k, c in run.scores.items()}
        self.status: _Values = run.status
        self.passed: _Values = run.passed
        self.latency: _Values = run.latency_ms
        self.cost: _Values = run.cost
        self._fetch = run.fetch_outputs if run.outputs is None else None

    def as_lists(self) -> None:
        """Convert the columns to lists: cheaper per row than numpy scalars for many rows."""
        for name in ("pass_metric", "status", "passed", "latency", "cost"):
            setattr(self, name, np.asarray(getattr(self, name)).tolist())
        self.scores = {k: np.asarray(v).tolist() for k, v in self.scores.items()}

    def read_outputs(self, keys: Iterable[tuple[str, int]]) -> None:
        """Fetch the outputs of ``keys`` when the run's outputs were not loaded."""
        if self._fetch is None:
            return
        found = self._fetch([k for k in keys if k in self.index])
        outputs = list(self.outputs)
        for key, output in found.items():
            outputs[self.index[key]] = output
        self.outputs = outputs

    def cell(self, row: int) -> Cell:
        return Cell(
            status=STATUSES[self.status[row]].value,
            passed=_flag(float(self.passed[row])),
            output=self.outputs[row],
            error=self.errors[row],
            latency_ms=_opt(float(self.latency[row])),
            cost=_opt(float(self.cost[row])),
            scores={name: _opt(float(values[row])) for name, values in self.scores.items()},
        )


def _change(before: float, after: float) -> Change:
    if math.isnan(before) or math.isnan(after):
        return "missing"
    if before == after:
        return "unchanged"
    return "regression" if before > after else "improvement"


@contextmanager
def paused_gc() -> Iterator[None]:
    """Building many small objects triggers the cyclic collector over and over for nothing:
    none of them form cycles. Pausing it makes 100,000-row comparisons several times faster."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def item_rows(
    runs: Sequence[RunFrame],
    item_tags: Mapping[str, Sequence[str]],
    *,
    diffs: bool = True,
    only: ItemFilter | None = None,
    tag: str | None = None,
    run_id: str | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[list[ItemRow], int]:
    """Rows per (item, repetition) found in any run, the baseline's order first, and how many
    match. ``only``, ``tag`` and ``run_id`` filter as :func:`filter_items` does, but before any
    row is built, so a page of a large comparison costs only its own rows."""
    _check_filter(only)
    if offset < 0 or (limit is not None and limit < 0):
        raise InvalidInput("offset and limit must not be negative", field="offset")
    cols = [_Columns(r) for r in runs]
    base, others = cols[0], cols[1:]
    if run_id is not None and run_id not in {c.run_id for c in cols}:
        raise InvalidInput(f"run {run_id} is not part of the comparison", field="run_id")
    keys: dict[tuple[str, int], None] = dict.fromkeys(base.index)
    for c in others:
        keys.update(dict.fromkeys(c.index))
    if only == "changed":
        for c in cols:
            c.read_outputs(keys)
        wanted = [k for k in keys if _changed_key(k, cols, run_id)]
    elif only == "failed":
        failing = _failing(runs, run_id)
        wanted = [k for k in keys if k in failing]
    elif only is not None:
        wanted = _status_changes(runs, only, run_id)
    else:
        wanted = list(keys)
    if tag is not None:
        wanted = [k for k in wanted if tag in item_tags.get(k[0], ())]
    page = wanted[offset : None if limit is None else offset + limit]
    for c in cols:
        if only != "changed":
            c.read_outputs(page)
        if len(page) > _MANY_ROWS:
            c.as_lists()
    with paused_gc():
        rows = [_row(key, base, others, item_tags, diffs) for key in page]
    return rows, len(wanted)


def _status_changes(
    runs: Sequence[RunFrame], only: ItemFilter, run_id: str | None
) -> list[tuple[str, int]]:
    """Keys whose pass/fail outcome got worse (regressions) or better (improvements) in some
    run against the baseline, in the baseline's order; computed on whole columns at once."""
    base = runs[0]
    before = base.pass_metric()
    hit = np.zeros(len(base), dtype=np.bool_)
    for other in runs[1:]:
        if run_id is not None and other.run_id != run_id:
            continue
        a, b = align(base, other)
        after = other.pass_metric()[b]
        hit[a] |= before[a] > after if only == "regressions" else before[a] < after
    keys = base.keys()
    return [keys[i] for i in np.flatnonzero(hit).tolist()]


def _failing(runs: Sequence[RunFrame], run_id: str | None) -> set[tuple[str, int]]:
    """Keys whose target failed or whose result did not pass, in any run (or in ``run_id``)."""
    out: set[tuple[str, int]] = set()
    for run in runs:
        if run_id is None or run.run_id == run_id:
            rows = np.flatnonzero((run.status == FAILED) | (run.passed == 0.0))
            out.update(zip(run.item_ids[rows].tolist(), run.repetition[rows].tolist(), strict=True))
    return out


def _changed_key(key: tuple[str, int], cols: list[_Columns], run_id: str | None) -> bool:
    """The outcome, a score or the output of ``key`` differs from the baseline in some run."""
    base = cols[0]
    i = base.index.get(key)
    if i is None:
        return False
    for c in cols[1:]:
        j = c.index.get(key)
        if (run_id is not None and c.run_id != run_id) or j is None:
            continue
        if (
            _change(base.pass_metric[i], c.pass_metric[j]) in ("regression", "improvement")
            or base.outputs[i] != c.outputs[j]
            or any(d != 0 for d in _deltas(base, i, c, j).values())
        ):
            return True
    return False


def _deltas(base: _Columns, i: int, c: _Columns, j: int) -> dict[str, float]:
    delta: dict[str, float] = {}
    for name, values in c.scores.items():
        before = base.scores.get(name)
        change = float(values[j] - before[i]) if before is not None else math.nan
        if not math.isnan(change):
            delta[name] = change
    return delta


def _row(
    key: tuple[str, int],
    base: _Columns,
    others: list[_Columns],
    item_tags: Mapping[str, Sequence[str]],
    diffs: bool,
) -> ItemRow:
    i = base.index.get(key)
    cells: dict[str, Cell | None] = {base.run_id: None if i is None else base.cell(i)}
    changes: dict[str, Change] = {}
    deltas: dict[str, dict[str, float]] = {}
    text_diffs: dict[str, list[DiffOp]] = {}
    for c in others:
        j = c.index.get(key)
        cells[c.run_id] = None if j is None else c.cell(j)
        if i is None or j is None:
            changes[c.run_id] = "missing"
            continue
        changes[c.run_id] = _change(base.pass_metric[i], c.pass_metric[j])
        deltas[c.run_id] = _deltas(base, i, c, j)
        if diffs and base.outputs[i] != c.outputs[j]:
            text_diffs[c.run_id] = word_diff(as_text(base.outputs[i]), as_text(c.outputs[j]))
    return ItemRow(
        item_id=key[0],
        repetition=key[1],
        tags=list(item_tags.get(key[0], ())),
        cells=cells,
        changes=changes,
        deltas=deltas,
        diffs=text_diffs,
    )


def _check_filter(only: str | None) -> None:
    if only is not None and only not in _FILTERS:
        raise InvalidInput(
            f"unknown filter {only!r}; use one of {', '.join(_FILTERS)}", field="only"
        )


def _failed(cell: Cell | None) -> bool:
    return cell is not None and (cell.status == ResultStatus.failed or cell.passed is False)


def _output_changed(row: ItemRow, run_id: str, baseline: str) -> bool:
    before, after = row.cells.get(baseline), row.cells.get(run_id)
    return before is not None and after is not None and before.output != after.output


def _changed(row: ItemRow, run_id: str, baseline: str) -> bool:
    return (
        row.changes.get(run_id) in ("regression", "improvement")
        or any(d != 0 for d in row.deltas.get(run_id, {}).values())
        or _output_changed(row, run_id, baseline)
    )


def filter_items(
    rows: Sequence[ItemRow],
    *,
    only: ItemFilter | None = None,
    tag: str | None = None,
    run_id: str | None = None,
) -> list[ItemRow]:
    """Rows matching ``only`` (regressions, improvements, changed, failed) and carrying ``tag``.

    ``run_id`` narrows regressions/improvements/changed to that run against the baseline, and
    failed to that run's cell.
    """
    _check_filter(only)

    def keep(row: ItemRow) -> bool:
        if tag is not None and tag not in row.tags:
            return False
        changes = row.changes if run_id is None else {run_id: row.changes.get(run_id, "missing")}
        if only == "regressions":
            return "regression" in changes.values()
        if only == "improvements":
            return "improvement" in changes.values()
        if only == "failed":
            cells = row.cells.values() if run_id is None else [row.cells.get(run_id)]
            return any(_failed(c) for c in cells)
        if only == "changed":
            baseline = next(iter(row.cells))
            return any(_changed(row, r, baseline) for r in changes)
        return True

    return [row for row in rows if keep(row)]
