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
    runs: Sequence[RunFrame], item_tags: Mapping[str, Sequence[str]], *, diffs: bool = True
) -> list[ItemRow]:
    """One row per (item, repetition) found in any run, in the baseline's order first."""
    with paused_gc():
        return _item_rows(runs, item_tags, diffs=diffs)


def _item_rows(
    runs: Sequence[RunFrame], item_tags: Mapping[str, Sequence[str]], *, diffs: bool
) -> list[ItemRow]:
    cols = [_Columns(r) for r in runs]
    base, others = cols[0], cols[1:]
    keys: dict[tuple[str, int], None] = dict.fromkeys(base.index)
    for c in others:
        keys.update(dict.fromkeys(c.index))
    rows: list[ItemRow] = []
    for key in keys:
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
            delta: dict[str, float] = {}
            for name, values in c.scores.items():
                before = base.scores.get(name)
                if before is not None and not math.isnan(values[j] - before[i]):
                    delta[name] = values[j] - before[i]
            deltas[c.run_id] = delta
            if diffs and base.outputs[i] != c.outputs[j]:
                text_diffs[c.run_id] = word_diff(as_text(base.outputs[i]), as_text(c.outputs[j]))
        rows.append(
            ItemRow(
                item_id=key[0],
                repetition=key[1],
                tags=list(item_tags.get(key[0], ())),
                cells=cells,
                changes=changes,
                deltas=deltas,
                diffs=text_diffs,
            )
        )
    return rows


def _failed(cell: Cell | None) -> bool:
    return cell is not None and (cell.status == ResultStatus.failed or cell.passed is False)


def _changed(row: ItemRow) -> bool:
    return (
        any(c in ("regression", "improvement") for c in row.changes.values())
        or any(d != 0 for delta in row.deltas.values() for d in delta.values())
        or bool(row.diffs)
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
    if only is not None and only not in _FILTERS:
        raise InvalidInput(f"unknown filter {only!r}; use one of {', '.join(_FILTERS)}")

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
            if run_id is None:
                return _changed(row)
            return (
                changes[run_id] in ("regression", "improvement")
                or any(d != 0 for d in row.deltas.get(run_id, {}).values())
                or run_id in row.diffs
            )
        return True

    return [row for row in rows if keep(row)]
