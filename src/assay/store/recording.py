"""Recording finished results: flatten completions to rows, write them in one transaction.

Flattening is separate from writing so a writer in another process can receive plain tuples
(cheap to pickle) and write them with :func:`write_rows`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, delete

from assay.domain.statuses import ResultStatus, ScoreDataType
from assay.store.db import Database
from assay.store.lease import Lease, fence, fence_and_touch
from assay.store.run_bulk import Bulk
from assay.store.run_frames import touch
from assay.store.tables import observations, traces
from assay.store.types import utcnow

if TYPE_CHECKING:  # records only: the writer process imports this module, never pydantic
    from assay.domain import ScoreCreate, WorkItem

# (status, output, error, latency_ms, tokens_in, tokens_out, cost, attempts, passed,
#  started_at, finished_at, result_id, trace_id[, item_id, repetition, input, expected_output]):
# a result without a row is inserted only when the row names its item
ResultRow = tuple[Any, ...]
# (result_id, name, data_type, numeric_value, string_value, passed, reason, source,
#  evaluator_id, evaluator_version, cost, tokens_in, tokens_out, latency_ms, metadata)
ScoreRow = tuple[Any, ...]
# (id, name, input, output, metadata, session_id, start_time, end_time)
TraceRow = tuple[Any, ...]
# (id, trace_id, parent_id, type, name, start_time, end_time, input, output, model,
#  model_parameters, tokens_in, tokens_out, cost, level, status_message, metadata)
ObservationRow = tuple[Any, ...]
_CATEGORICAL = ScoreDataType.categorical.value


@dataclass(slots=True)
class RunTrace:
    """What the engine saw of one target call; stored as the result's trace.

    The trace has the result's id, the run's id as its session, the item's input and the
    output. Under it, one observation for the call when it says more than the trace itself (a
    ``generation`` for model calls with the request sent, model and parameters; a failed call
    with its error; a call that used tools), and one ``tool`` observation per tool call. A
    plain function's successful call is the trace alone: one row, not two.
    """

    name: str
    experiment_id: str
    input: Any = None
    kind: str = "span"
    request: Any = None
    model: str | None = None
    parameters: dict[str, Any] | None = None
    tool_calls: list[Any] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    # Steps the task recorded: (name, type, parent index, start, end, input, output, model,
    # tokens_in, tokens_out, cost, level, status_message, metadata[, model_parameters]).
    steps: list[tuple[Any, ...]] = field(default_factory=list)


@dataclass(slots=True)
class Completion:
    """What the engine learned about one result; written with its scores in one batch."""

    result_id: str
    status: str
    output: Any = None
    error: str | None = None
    latency_ms: float | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    cost: float | None = None
    attempts: int = 0
    passed: bool | None = None
    started_at: datetime | float | None = None  # a datetime or Unix seconds
    finished_at: datetime | float | None = None
    scores: list[ScoreCreate] = field(default_factory=list)
    trace: RunTrace | None = None
    item: WorkItem | None = None  # what a result without a row yet is inserted with


@dataclass(slots=True)
class Rows:
    """Completions flattened to plain tuples (cheap to pickle to a writer process)."""

    results: list[ResultRow]
    scores: list[ScoreRow] = field(default_factory=list)
    traces: list[TraceRow] = field(default_factory=list)
    observations: list[ObservationRow] = field(default_factory=list)


def completion_rows(batch: Sequence[Completion]) -> Rows:
    """Flatten completions (their scores and traces) to plain tuples."""
    now = utcnow()
    result_rows = [
        (
            c.status,
            c.output,
            c.error,
            c.latency_ms,
            c.tokens_in,
            c.tokens_out,
            c.cost,
            c.attempts,
            c.passed,
            c.started_at,
            c.finished_at if c.finished_at is not None else now,
            c.result_id,
            c.result_id if c.trace is not None else None,
            None if (item := c.item) is None else item.item_id,
            0 if item is None else item.repetition,
            None if item is None else item.input,
            None if item is None else item.expected_output,
        )
        for c in batch
    ]
    score_rows = [
        (
            c.result_id,
            s.name,
            s.data_type._value_ if s.data_type is not None else _CATEGORICAL,
            s.numeric_value,
            s.string_value,
            s.passed,
            s.reason,
            s.source._value_,
            s.evaluator_id,
            s.evaluator_version,
            s.cost,
            s.tokens_in,
            s.tokens_out,
            s.latency_ms,
            s.metadata,
        )
        for c in batch
        for s in c.scores
    ]
    rows = Rows(result_rows, score_rows)
    for c in batch:
        if c.trace is not None:
            _trace_rows(c, c.trace, now, rows)
    return rows


def _trace_rows(c: Completion, t: RunTrace, now: datetime, rows: Rows) -> None:
    end = c.finished_at if c.finished_at is not None else now
    failed = c.status == ResultStatus.failed.value
    rows.traces.append(
        (c.result_id, t.name, t.input, c.output, t.metadata, t.experiment_id, c.started_at, end)
    )
    if not (failed or t.tool_calls or t.steps or t.model is not None or t.request is not None):
        return
    call = f"{c.result_id}:call"
    rows.observations.append(
        (
            call,
            c.result_id,
            None,
            t.kind,
            "target",
            c.started_at,
            end,
            t.request if t.request is not None else t.input,
            c.output,
            t.model,
            t.parameters,
            c.tokens_in,
            c.tokens_out,
            c.cost,
            "ERROR" if failed else "DEFAULT",
            c.error,
            {"attempts": c.attempts},
        )
    )
    for k, tool in enumerate(t.tool_calls):
        name, arguments = _tool(tool)
        rows.observations.append(
            (
                f"{c.result_id}:tool:{k}",
                c.result_id,
                call,
                "tool",
                name,
                None,
                None,
                arguments,
                None,
                None,
                None,
                None,
                None,
                None,
                "DEFAULT",
                None,
                {},
            )
        )

    for k, step in enumerate(t.steps):
        name, kind, parent, start, stop = step[:5]
        parent_id = call if parent is None else f"{c.result_id}:step:{parent}"
        # (input, output, model), model parameters, then tokens, cost, level, message, meta
        details = (*step[5:8], step[14] if len(step) > 14 else None, *step[8:14])
        rows.observations.append(
            (f"{c.result_id}:step:{k}", c.result_id, parent_id, kind, name, start, stop, *details)
        )


def _tool(call: Any) -> tuple[str, Any]:
    """A tool call's name and arguments, in the OpenAI or Anthropic shape or a plain one."""
    if not isinstance(call, dict):
        return "tool", call
    function = call.get("function")
    if isinstance(function, dict):
        return str(function.get("name") or "tool"), function.get("arguments")
    return str(call.get("name") or "tool"), call.get("arguments", call.get("input", call))


class _Recheck(Exception):
    """A batch meant to be fresh met results already recorded: roll back and check first."""


def _recorded(conn: Connection, ids: list[str]) -> tuple[set[str], set[str], set[str]]:
    """Of these results: those with a row, those completed, and the traces of earlier tries."""
    existing: set[str] = set()
    completed: set[str] = set()
    traced: set[str] = set()
    pg = conn.dialect.name == "postgresql"
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        marks = ", ".join(["%s" if pg else "?"] * len(chunk))
        rows = conn.exec_driver_sql(
            f"SELECT id, status, trace_id FROM results WHERE id IN ({marks})", tuple(chunk)
        )
        for rid, status, trace_id in rows:
            existing.add(rid)
            if status == ResultStatus.completed.value:
                completed.add(rid)
            elif trace_id is not None:
                traced.add(trace_id)
    return existing, completed, traced


def write_rows(
    db: Database,
    bulk: Bulk,
    project_id: str,
    experiment_id: str,
    rows: Rows,
    *,
    lease: Lease | None = None,
    fresh: bool = False,
) -> tuple[int, int | None]:
    """One transaction: results not yet completed get their outcome, scores and trace; a
    result without a row is inserted whole. Returns how many results were written and, for a
    ``fresh`` batch inserted as it is, the run's data revision as the transaction left it
    (else None).

    With ``lease``, the transaction first checks the runner still holds the run (see
    :mod:`assay.store.lease`): a runner that lost it writes nothing.

    ``fresh``: the results were planned by the runner holding ``lease`` in this run, which
    wrote no pending row (see :mod:`assay.store.unwritten`), so none can have a row yet; the
    batch is inserted without reading anything first. A result that has a row after all is
    left alone, and if fewer rows were inserted than the batch holds the transaction is rolled
    back and the batch written again the checked way (then some of its rows may have been left
    alone, and no revision is returned): never a second completion, score or trace for one
    result.
    """
    if not rows.results:
        return 0, None
    if fresh and lease is not None:
        try:
            return _write(db, bulk, project_id, experiment_id, rows, lease, fresh=True)
        except _Recheck:
            pass
    return _write(db, bulk, project_id, experiment_id, rows, lease, fresh=False)[0], None


def _write(
    db: Database,
    bulk: Bulk,
    project_id: str,
    experiment_id: str,
    rows: Rows,
    lease: Lease | None,
    *,
    fresh: bool,
) -> tuple[int, int | None]:
    """Rows written, and with ``fresh`` the run's data revision after this write."""
    result_rows, score_rows = rows.results, rows.scores
    trace_rows, observation_rows = rows.traces, rows.observations
    with db.write() as conn:
        data_revision = None
        if lease is not None and fresh:
            data_revision = fence_and_touch(conn, lease)
        elif lease is not None:
            fence(conn, lease)
        existing: set[str] | None = None
        if not fresh:
            existing, done, traced = _recorded(conn, [r[11] for r in result_rows])
            if done:
                result_rows = [r for r in result_rows if r[11] not in done]
                score_rows = [s for s in score_rows if s[0] not in done]
                trace_rows = [t for t in trace_rows if t[0] not in done]
                observation_rows = [o for o in observation_rows if o[1] not in done]
            if not result_rows:
                return 0, None
            if traced:  # a failed try's trace, replaced by this one
                delete_traces(conn, project_id, sorted(traced))
        _, inserted, trace_params = bulk.record(
            conn, project_id, experiment_id, utcnow(), result_rows, trace_rows, existing
        )
        if fresh and inserted != len(result_rows):
            raise _Recheck
        bulk.insert_trace_params(conn, trace_params)
        if data_revision is None:
            touch(conn, [experiment_id])
        if score_rows:
            bulk.insert_scores(conn, project_id, experiment_id, score_rows)
        if observation_rows:
            bulk.insert_observations(conn, project_id, observation_rows)
    return len(result_rows), data_revision


def delete_traces(conn: Connection, project_id: str, trace_ids: Sequence[str]) -> None:
    """Delete traces (their observations go with them)."""
    for start in range(0, len(trace_ids), 900):
        chunk = list(trace_ids[start : start + 900])
        conn.execute(
            delete(observations).where(
                observations.c.project_id == project_id, observations.c.trace_id.in_(chunk)
            )
        )
        conn.execute(
            delete(traces).where(traces.c.project_id == project_id, traces.c.id.in_(chunk))
        )
