"""Per-item rows of a comparison, and the filters over them."""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt

from assay.analysis.frame import FAILED, STATUSES, RunFrame, same_rows
from assay.analysis.item_keys import IntArray
from assay.analysis.textdiff import as_text, word_diff
from assay.domain import Cell, Change, DiffOp, ItemFilter, ItemRow, ResultStatus
from assay.errors import InvalidInput

_FILTERS = ("regressions", "improvements", "changed", "failed")


def _opt(x: float) -> float | None:
    return None if math.isnan(x) else x


def _flag(x: float) -> bool | None:
    return None if math.isnan(x) else x == 1.0


def _taken(column: npt.NDArray[Any], rows: IntArray) -> list[Any]:
    """``column`` at ``rows`` (-1: no row; any value) as a list."""
    if len(column) == 0:
        return [math.nan] * rows.size
    return column[np.maximum(rows, 0)].tolist()  # type: ignore[no-any-return]


def _outputs(run: RunFrame, rows: IntArray) -> list[Any]:
    """The outputs of ``rows`` (-1: no row, None), read now when the run's were not loaded."""
    listed = rows.tolist()
    if run.outputs is not None:
        return [None if r < 0 else run.outputs[r] for r in listed]
    out: list[Any] = [None] * len(listed)
    if run.fetch_outputs is None:
        return out
    present = np.flatnonzero(rows >= 0)
    keys = run.keys(rows[present])
    found = run.fetch_outputs(keys)
    for at, key in zip(present.tolist(), keys, strict=True):
        out[at] = found.get(key)
    return out


class _Cells:
    """One run's values at the rows of a page of item rows (-1 where the run has no row)."""

    def __init__(self, run: RunFrame, rows: IntArray) -> None:
        self.run_id = run.run_id
        self.rows: list[int] = rows.tolist()
        self.pass_metric = _taken(run.pass_metric(), rows)
        self.status = _taken(run.status, rows)
        self.passed = _taken(run.passed, rows)
        self.latency = _taken(run.latency_ms, rows)
        self.cost = _taken(run.cost, rows)
        self.scores = {k: _taken(c.metric(), rows) for k, c in run.scores.items()}
        errors = run.errors
        self.errors = [None if r < 0 or errors is None else errors[r] for r in self.rows]
        self.outputs = _outputs(run, rows)

    def cell(self, k: int) -> Cell | None:
        if self.rows[k] < 0:
            return None
        return Cell(
            status=STATUSES[self.status[k]].value,
            passed=_flag(float(self.passed[k])),
            output=self.outputs[k],
            error=self.errors[k],
            latency_ms=_opt(float(self.latency[k])),
            cost=_opt(float(self.cost[k])),
            scores={name: _opt(float(values[k])) for name, values in self.scores.items()},
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


class _Keys:
    """Every (item, repetition) found in any run, the baseline's rows first, then each other
    run's rows that no earlier run has, as segments of row numbers: ``source[s]`` holds the
    rows of run ``s`` that open segment ``s`` and ``rows[s][t]`` the row of run ``t`` for each
    of them (-1: none). Nothing per key is built until a page is chosen."""

    def __init__(self, runs: Sequence[RunFrame]) -> None:
        self.runs = runs
        self.source: list[IntArray] = []
        self.rows: list[list[IntArray]] = []
        for s, run in enumerate(runs):
            new = np.ones(len(run), dtype=np.bool_)
            for earlier in runs[:s]:
                new &= self._lookup(earlier, run, None) < 0
            source = np.flatnonzero(new) if s else np.arange(len(run), dtype=np.intp)
            self.source.append(source)
            self.rows.append(
                [
                    np.full(source.size, -1, dtype=np.intp)
                    if t < s
                    else source
                    if t == s
                    else self._lookup(other, run, None if s == 0 else source)
                    for t, other in enumerate(runs)
                ]
            )
        self.starts = np.cumsum([0] + [r.size for r in self.source])

    @staticmethod
    def _lookup(target: RunFrame, run: RunFrame, rows: IntArray | None) -> IntArray:
        """The row in ``target`` of each row of ``run`` (of ``rows``), -1 where it has none."""
        if rows is None:
            if same_rows(target, run):
                return np.arange(len(run), dtype=np.intp)
            return target.lookup(run.item_ids, run.repetition)
        return target.lookup(run.item_ids[rows], run.repetition[rows])

    @property
    def total(self) -> int:
        return int(self.starts[-1])

    def at(self, positions: IntArray) -> tuple[list[tuple[str, int]], list[IntArray]]:
        """The keys at ``positions`` (of the whole sequence) and each run's rows for them."""
        segment = np.searchsorted(self.starts, positions, side="right") - 1
        keys: list[tuple[str, int]] = [("", 0)] * positions.size
        rows = [np.full(positions.size, -1, dtype=np.intp) for _ in self.runs]
        for s, run in enumerate(self.runs):
            mine = np.flatnonzero(segment == s)
            if not mine.size:
                continue
            index = positions[mine] - self.starts[s]
            for at, key in zip(mine.tolist(), run.keys(self.source[s][index]), strict=True):
                keys[at] = key
            for t in range(len(self.runs)):
                rows[t][mine] = self.rows[s][t][index]
        return keys, rows


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
    match. ``only``, ``tag`` and ``run_id`` filter as :func:`filter_items` does, but on whole
    columns before any row is built, so a page of a large comparison costs only its own
    rows."""
    _check_filter(only)
    if offset < 0 or (limit is not None and limit < 0):
        raise InvalidInput("offset and limit must not be negative", field="offset")
    if run_id is not None and run_id not in {r.run_id for r in runs}:
        raise InvalidInput(f"run {run_id} is not part of the comparison", field="run_id")
    keys = _Keys(runs)
    if only == "changed":
        wanted = _changed_rows(runs, keys, run_id)
    elif only == "failed":
        wanted = _failing(runs, keys, run_id)
    elif only is not None:
        wanted = _status_changes(runs, keys, only, run_id)
    else:
        wanted = np.arange(keys.total, dtype=np.intp)
    if tag is not None:
        wanted = _tagged(keys, wanted, item_tags, tag)
    page, rows = keys.at(wanted[offset : None if limit is None else offset + limit])
    cells = [_Cells(run, r) for run, r in zip(runs, rows, strict=True)]
    with paused_gc():
        out = [_row(key, k, cells[0], cells[1:], item_tags, diffs) for k, key in enumerate(page)]
    return out, int(wanted.size)


def _compared(runs: Sequence[RunFrame], run_id: str | None) -> list[int]:
    """The runs compared with the baseline (``run_id`` only, when given)."""
    return [t for t in range(1, len(runs)) if run_id is None or runs[t].run_id == run_id]


def _status_changes(
    runs: Sequence[RunFrame], keys: _Keys, only: ItemFilter, run_id: str | None
) -> IntArray:
    """Positions of keys whose pass/fail outcome got worse (regressions) or better
    (improvements) in some run against the baseline: baseline rows, in its order."""
    before = runs[0].pass_metric()
    hit = np.zeros(len(runs[0]), dtype=np.bool_)
    for t in _compared(runs, run_id):
        b = keys.rows[0][t]
        a = np.flatnonzero(b >= 0)
        after = runs[t].pass_metric()[b[a]]
        hit[a] |= before[a] > after if only == "regressions" else before[a] < after
    return np.flatnonzero(hit)


def _failing(runs: Sequence[RunFrame], keys: _Keys, run_id: str | None) -> IntArray:
    """Positions of keys whose target failed or whose result did not pass, in any run (or in
    ``run_id``)."""
    found = []
    for s, source in enumerate(keys.source):
        hit = np.zeros(source.size, dtype=np.bool_)
        for t, run in enumerate(runs):
            if run_id is None or run.run_id == run_id:
                failing = (run.status == FAILED) | (run.passed == 0.0)
                rows = keys.rows[s][t]
                present = rows >= 0
                hit[present] |= failing[rows[present]]
        found.append(np.flatnonzero(hit) + keys.starts[s])
    return np.concatenate(found).astype(np.intp)


def _changed_rows(runs: Sequence[RunFrame], keys: _Keys, run_id: str | None) -> IntArray:
    """Positions of keys whose outcome, a score or the output differs from the baseline in
    some run: baseline rows, in its order."""
    base = runs[0]
    before = base.pass_metric()
    hit = np.zeros(len(base), dtype=np.bool_)
    everything = np.arange(len(base), dtype=np.intp)
    base_outputs: list[Any] | None = None
    for t in _compared(runs, run_id):
        run = runs[t]
        b = keys.rows[0][t]
        a = np.flatnonzero(b >= 0)
        rows = b[a]
        after = run.pass_metric()[rows]
        changed = ~np.isnan(before[a]) & ~np.isnan(after) & (before[a] != after)
        for name, column in run.scores.items():
            if name in base.scores:
                delta = column.metric()[rows] - base.scores[name].metric()[a]
                changed |= ~np.isnan(delta) & (delta != 0)
        hit[a] |= changed
        if base_outputs is None:
            base_outputs = _outputs(base, everything)
        outputs = _outputs(run, b)
        for i in a[~hit[a]].tolist():
            if base_outputs[i] != outputs[i]:
                hit[i] = True
    return np.flatnonzero(hit)


def _tagged(
    keys: _Keys, positions: IntArray, item_tags: Mapping[str, Sequence[str]], tag: str
) -> IntArray:
    """The ``positions`` whose item carries ``tag``."""
    page, _ = keys.at(positions)
    keep = [tag in item_tags.get(item, ()) for item, _ in page]
    return positions[np.array(keep, dtype=np.bool_)] if keep else positions


def _deltas(base: _Cells, i: int, c: _Cells, j: int) -> dict[str, float]:
    delta: dict[str, float] = {}
    for name, values in c.scores.items():
        before = base.scores.get(name)
        change = float(values[j] - before[i]) if before is not None else math.nan
        if not math.isnan(change):
            delta[name] = change
    return delta


def _row(
    key: tuple[str, int],
    k: int,
    base: _Cells,
    others: list[_Cells],
    item_tags: Mapping[str, Sequence[str]],
    diffs: bool,
) -> ItemRow:
    cells: dict[str, Cell | None] = {base.run_id: base.cell(k)}
    changes: dict[str, Change] = {}
    deltas: dict[str, dict[str, float]] = {}
    text_diffs: dict[str, list[DiffOp]] = {}
    for c in others:
        cells[c.run_id] = c.cell(k)
        if base.rows[k] < 0 or c.rows[k] < 0:
            changes[c.run_id] = "missing"
            continue
        changes[c.run_id] = _change(base.pass_metric[k], c.pass_metric[k])
        deltas[c.run_id] = _deltas(base, k, c, k)
        if diffs and base.outputs[k] != c.outputs[k]:
            text_diffs[c.run_id] = word_diff(as_text(base.outputs[k]), as_text(c.outputs[k]))
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
