"""Listing, in plan order, the results of a run still missing rows: those without one derived.

While a run keeps ``unwritten_base`` (see :mod:`assay.store.unwritten`), a listing in plan
order (the results API, an experiment's runs, the run page's table by position) shows each
planned result without a row as a pending result made from the plan, as the pending row a run
planned with its rows would hold. The k-th planned result has the id ``base + k``, so a page is
chosen by position: the stored rows in the page's id range (read off the primary key) tell
which positions have a row, and the items of the others are read from the pinned dataset
version by their index in the plan. The plan of a run never changes, so those items are kept
in a small cache: a live run page asks for the same page every second.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, func, select

from assay.domain import Result, ResultStatus, Selection
from assay.errors import InvalidInput
from assay.ids import sequential_ids
from assay.store.planning import PlannedItem, item_slice, selected_items
from assay.store.result_pages import records
from assay.store.sql import decode_cursor, encode_cursor, in_run
from assay.store.tables import results

_SCAN = 1_000  # stored rows read per step while looking for the listed positions
_CACHED = 64  # slices of plans kept

PENDING = ResultStatus.pending


@dataclass(frozen=True, slots=True)
class Plan:
    """What a run still missing rows stores of its plan."""

    experiment_id: str
    dataset_id: str
    version: int
    selection: dict[str, Any] | None
    trials: int
    base: int
    size: int

    def result_id(self, k: int) -> str:
        """The id of the k-th planned result."""
        return sequential_ids(1, self.base, k)[0]

    def after(self, result_id: str, step: int) -> int:
        """The first position strictly after ``result_id`` in the direction of ``step``
        (-1 or ``size`` when none is left)."""
        try:
            k = uuid.UUID(str(result_id)).int - self.base
        except ValueError:
            raise InvalidInput("malformed pagination cursor", field="cursor") from None
        if step > 0:
            return max(0, min(self.size, k + 1))
        return max(-1, min(self.size - 1, k - 1))


def plan_of(row: Row[Any]) -> Plan | None:
    """The plan of an experiment row still missing result rows; None for any other run."""
    if row.unwritten_base is None or row.dataset_id is None:
        return None
    return Plan(
        row.id,
        row.dataset_id,
        row.dataset_version,
        row.selection,
        row.trials,
        uuid.UUID(row.unwritten_base).int,
        int(row.plan_size or 0),
    )


def lists_derived(status: ResultStatus | None, passed: bool | None, search: str | None) -> bool:
    """Whether a listing with these filters holds pending results (derived ones may match)."""
    return status in (None, PENDING) and passed is None and not search


def positions(
    conn: Connection,
    plan: Plan,
    start: int,
    step: int,
    want: int,
    statuses: Collection[str] | None,
) -> list[tuple[int, bool]]:
    """Up to ``want`` listed positions from ``start`` (inclusive) in the direction of
    ``step`` (1 or -1), each with whether it has a row: every position without a row, and
    those whose row's status is in ``statuses`` (None: any)."""
    out: list[tuple[int, bool]] = []
    k, end = start, (plan.size if step > 0 else -1)
    while len(out) < want and k != end:
        reach = _SCAN if statuses is not None else want - len(out)
        far = max(0, min(plan.size - 1, k + step * (reach - 1)))
        lo, hi = (k, far) if step > 0 else (far, k)
        order = results.c.id if step > 0 else results.c.id.desc()
        # The id range drives the read (primary key order); the experiment is wrapped so that
        # the planner does not pick its index and sort the whole run per step.
        rows = conn.execute(
            select(results.c.id, results.c.status)
            .where(
                results.c.id >= plan.result_id(lo),
                results.c.id <= plan.result_id(hi),
                in_run(results.c.experiment_id, plan.experiment_id),
            )
            .order_by(order)
            .limit(_SCAN)
        ).all()
        for rid, status in rows:
            at = uuid.UUID(rid).int - plan.base
            while k != at and len(out) < want:
                out.append((k, False))
                k += step
            if len(out) >= want:
                return out
            if statuses is None or status in statuses:
                out.append((at, True))
            k = at + step
        if len(rows) < _SCAN:  # nothing stored up to ``far``: its positions have no row
            stop = far + step
            while k != stop and len(out) < want:
                out.append((k, False))
                k += step
    return out


def page(
    conn: Connection, plan: Plan, status: ResultStatus | None, limit: int, cursor: str | None
) -> tuple[list[Result], str | None]:
    """A page of the results API in plan order (``status``: None or pending)."""
    start = 0
    if cursor:
        (last_id,) = decode_cursor(cursor, 1)
        start = plan.after(last_id, 1)
    statuses = None if status is None else [status.value]
    picked = positions(conn, plan, start, 1, limit + 1, statuses)
    more = len(picked) > limit
    picked = picked[:limit]
    next_cursor = encode_cursor(plan.result_id(picked[-1][0])) if more else None
    return listed(conn, plan, picked), next_cursor


def listed(conn: Connection, plan: Plan, picked: Sequence[tuple[int, bool]]) -> list[Result]:
    """The results at ``picked`` positions: stored ones with their scores, the others pending
    results made from the plan."""
    stored_ids = [plan.result_id(k) for k, stored in picked if stored]
    stored: dict[str, Result] = {}
    if stored_ids:
        rows = conn.execute(select(results).where(results.c.id.in_(stored_ids))).all()
        stored = {r.id: r for r in records(conn, rows)}
    indexes = sorted({k // plan.trials for k, has_row in picked if not has_row})
    items: dict[int, PlannedItem] = {}
    for lo, hi in _runs(indexes):
        items.update(enumerate(_slice(conn, plan, lo, hi), lo))
    out: list[Result] = []
    for k, has_row in picked:
        rid = plan.result_id(k)
        if has_row:
            if rid in stored:
                out.append(stored[rid])
        elif (found := items.get(k // plan.trials)) is not None:
            out.append(_pending(plan, rid, found, k % plan.trials))
    return out


def count(conn: Connection, plan: Plan, status: ResultStatus | None) -> int:
    """Results of the run matching ``status`` (None or pending), those without a row counted."""
    query = select(func.count()).where(results.c.experiment_id == plan.experiment_id)
    stored = int(conn.execute(query).scalar_one())
    missing = max(plan.size - stored, 0)
    if status is None:
        return stored + missing
    pending = query.where(results.c.status == status.value)
    return int(conn.execute(pending).scalar_one()) + missing


def _pending(plan: Plan, result_id: str, item: PlannedItem, repetition: int) -> Result:
    return Result.model_construct(
        id=result_id,
        experiment_id=plan.experiment_id,
        item_id=item.id,
        repetition=repetition,
        status=PENDING,
        input=item.input,
        expected_output=item.expected_output,
        output=None,
        error=None,
        latency_ms=None,
        tokens_in=None,
        tokens_out=None,
        cost=None,
        attempts=0,
        passed=None,
        trace_id=None,
        observation_id=None,
        started_at=None,
        finished_at=None,
        scores=[],
    )


def _runs(indexes: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted indexes as half-open ranges of consecutive ones."""
    out: list[tuple[int, int]] = []
    for i in indexes:
        if out and out[-1][1] == i:
            out[-1] = (out[-1][0], i + 1)
        else:
            out.append((i, i + 1))
    return out


_slices: OrderedDict[tuple[str, int, int], list[PlannedItem]] = OrderedDict()
_lock = threading.Lock()


def _slice(conn: Connection, plan: Plan, lo: int, hi: int) -> list[PlannedItem]:
    """The plan's items of index ``lo`` to ``hi`` (excluded), from the cache or the store."""
    key = (plan.experiment_id, lo, hi)
    with _lock:
        found = _slices.get(key)
        if found is not None:
            _slices.move_to_end(key)
            return found
    if plan.selection is None:  # the whole version, in dataset order
        items = item_slice(conn, plan.dataset_id, plan.version, lo, hi - lo)
    else:  # the selection's items, read no further than ``hi`` when it draws no sample
        selection = Selection.model_validate(plan.selection)
        if selection.sample is None:
            first = hi if selection.first is None else min(selection.first, hi)
            selection = selection.model_copy(update={"first": first})
        items = selected_items(conn, plan.dataset_id, plan.version, selection)[lo:hi]
    with _lock:
        _slices[key] = items
        while len(_slices) > _CACHED:
            _slices.popitem(last=False)
    return items
