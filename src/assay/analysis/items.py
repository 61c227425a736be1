"""Per-item rows of a comparison, and the filters over them."""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from assay.analysis.frame import STATUSES, RunFrame
from assay.analysis.models import Cell, Change, DiffOp, ItemFilter, ItemRow
from assay.analysis.textdiff import as_text, word_diff
from assay.domain import ResultStatus
from assay.errors import InvalidInput

_FILTERS = ("regressions", "improvements", "changed", "failed")


def _opt(x: float) -> float | None:
    return None if math.isnan(x) else x


def _flag(x: float) -> bool | None:
    return None if math.isnan(x) else x == 1.0


class _Columns:
    """A run's columns as Python lists, read once per comparison."""

    def __init__(self, run: RunFrame) -> None:
        self.run_id = run.run_id
        self.index = run.index
        self.status = [STATUSES[c].value for c in run.status.tolist()]
        self.passed = run.passed.tolist()
        self.pass_metric = run.pass_metric().tolist()
        self.latency = run.latency_ms.tolist()
        self.cost = run.cost.tolist()
        self.outputs: Sequence[Any] = run.outputs or [None] * len(run)
        self.errors: Sequence[str | None] = run.errors or [None] * len(run)
        self.scores = {k: c.metric().tolist() for k, c in run.scores.items()}
        self._names = list(self.scores)
        self._score_rows = list(
            zip(*([_opt(x) for x in v] for v in self.scores.values()), strict=True)
        )

    def failed(self, row: int) -> bool:
        """The target failed, or the result did not pass."""
        return bool(self.status[row] == "failed" or self.passed[row] == 0.0)

    def cell(self, row: int) -> Cell:
        return Cell(
            status=self.status[row],
            passed=_flag(self.passed[row]),
            output=self.outputs[row],
            error=self.errors[row],
            latency_ms=_opt(self.latency[row]),
            cost=_opt(self.cost[row]),
            scores=dict(zip(self._names, self._score_rows[row], strict=True))
            if self._names
            else {},
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
    if only is not None or tag is not None:
        wanted = [k for k in keys if _wanted(k, cols, item_tags, only, tag, run_id)]
    else:
        wanted = list(keys)
    page = wanted[offset : None if limit is None else offset + limit]
    with paused_gc():
        rows = [_row(key, base, others, item_tags, diffs) for key in page]
    return rows, len(wanted)


def _wanted(
    key: tuple[str, int],
    cols: list[_Columns],
    item_tags: Mapping[str, Sequence[str]],
    only: ItemFilter | None,
    tag: str | None,
    run_id: str | None,
) -> bool:
    if tag is not None and tag not in item_tags.get(key[0], ()):
        return False
    if only is None:
        return True
    base = cols[0]
    i = base.index.get(key)
    if only == "failed":
        for c in cols:
            j = c.index.get(key)
            if (run_id is None or c.run_id == run_id) and j is not None and c.failed(j):
                return True
        return False
    for c in cols[1:]:
        j = c.index.get(key)
        if (run_id is not None and c.run_id != run_id) or i is None or j is None:
            continue
        change = _change(base.pass_metric[i], c.pass_metric[j])
        if only == "regressions" and change == "regression":
            return True
        if only == "improvements" and change == "improvement":
            return True
        if only == "changed" and (
            change in ("regression", "improvement")
            or base.outputs[i] != c.outputs[j]
            or any(d != 0 for d in _deltas(base, i, c, j).values())
        ):
            return True
    return False


def _deltas(base: _Columns, i: int, c: _Columns, j: int) -> dict[str, float]:
    delta: dict[str, float] = {}
    for name, values in c.scores.items():
        before = base.scores.get(name)
        if before is not None and not math.isnan(values[j] - before[i]):
            delta[name] = values[j] - before[i]
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
