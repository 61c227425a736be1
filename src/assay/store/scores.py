"""Scores outside a run: human and API feedback, and re-scoring stored results.

A score is keyed by (result, name, source) — or (trace, name, source) for a trace — so sending
it again replaces it. Re-scoring replaces an experiment's evaluator scores of the same names
and recomputes each result's ``passed`` from the verdicts of its evaluator scores.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, bindparam, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from assay.domain import ResultStatus, Score, ScoreCreate, ScoreDataType, ScoreSource
from assay.errors import Conflict, InvalidInput, NotFound
from assay.ids import new_id
from assay.store.db import Database
from assay.store.run_frames import touch
from assay.store.run_pages import run_span
from assay.store.sql import in_run
from assay.store.tables import dataset_items, experiments, results, scores, traces
from assay.store.types import utcnow

_CHUNK = 500


def score_record(m: Any) -> Score:
    """A stored score row as a domain record."""
    return Score.model_construct(
        id=m["id"],
        name=m["name"],
        data_type=ScoreDataType(m["data_type"]),
        numeric_value=m["numeric_value"],
        string_value=m["string_value"],
        passed=m["passed"],
        reason=m["reason"],
        source=ScoreSource(m["source"]),
        result_id=m["result_id"],
        trace_id=m["trace_id"],
        evaluator_id=m["evaluator_id"],
        evaluator_version=m["evaluator_version"],
        cost=m["cost"],
        tokens_in=m["tokens_in"],
        tokens_out=m["tokens_out"],
        latency_ms=m["latency_ms"],
        metadata=m["metadata"] or {},
        created_at=m["created_at"],
    )


def _values(data: ScoreCreate) -> dict[str, Any]:
    return {
        "name": data.name,
        "data_type": (data.data_type or ScoreDataType.categorical).value,
        "numeric_value": data.numeric_value,
        "string_value": data.string_value,
        "passed": data.passed,
        "reason": data.reason,
        "source": data.source.value,
        "evaluator_id": data.evaluator_id,
        "evaluator_version": data.evaluator_version,
        "cost": data.cost,
        "tokens_in": data.tokens_in,
        "tokens_out": data.tokens_out,
        "latency_ms": data.latency_ms,
        "metadata": data.metadata,
    }


def check_feedback(data: ScoreCreate) -> None:
    """A human/API score: a source other than evaluator and a value matching its data type."""
    if data.source in (ScoreSource.evaluator, ScoreSource.online):
        raise InvalidInput(
            "source must be 'human' or 'api'; evaluator scores are written by runs, re-scoring "
            "and online rules",
            field="source",
        )
    value, kind = data.value, data.data_type
    if value is None:
        raise InvalidInput("value is required", field="value")
    if kind is ScoreDataType.boolean and not isinstance(value, bool):
        raise InvalidInput(f"a boolean score needs true or false, got {value!r}", field="value")
    if kind is ScoreDataType.numeric:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidInput(f"a numeric score needs a number, got {value!r}", field="value")
        if not math.isfinite(value):
            raise InvalidInput("a numeric score must be finite", field="value")
    if kind is ScoreDataType.categorical and not isinstance(value, str):
        raise InvalidInput(f"a categorical score needs a text label, got {value!r}", field="value")


def completed_page(experiment_id: str, high: str) -> list[ColumnElement[bool]]:
    """The conditions of a page of a run's completed results after the id ``after`` (a bound
    parameter), up to ``high``, its highest result id: read in key order by the id range
    (see :func:`~assay.store.sql.in_run`), not through the run's status index, which sorted
    every completed result of the run again for each page."""
    return [
        in_run(results.c.experiment_id, experiment_id),
        results.c.status == ResultStatus.completed.value,
        results.c.id > bindparam("after"),
        results.c.id <= high,
    ]


@dataclass(slots=True)
class StoredResult:
    """A completed result as re-scoring sees it: what ran, what came out, the item's context."""

    result_id: str
    item_id: str | None
    repetition: int
    input: Any
    expected_output: Any
    output: Any
    latency_ms: float | None
    cost: float | None
    tokens_in: int | None
    tokens_out: int | None
    context: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)


class Scores:
    """Score operations within one project."""

    def __init__(self, db: Database, project_id: str) -> None:
        self.db = db
        self.project_id = project_id

    # ------------------------------------------------------------------ feedback
    def _owner(self, conn: Connection, result_id: str | None, trace_id: str | None) -> str | None:
        """The experiment of ``result_id`` (None for a trace), checking the project."""
        if (result_id is None) == (trace_id is None):
            raise InvalidInput("give exactly one of result_id or trace_id", field="result_id")
        if result_id is not None:
            experiment_id = conn.execute(
                select(results.c.experiment_id)
                .join(experiments, experiments.c.id == results.c.experiment_id)
                .where(results.c.id == result_id, experiments.c.project_id == self.project_id)
            ).scalar_one_or_none()
            if experiment_id is None:
                raise NotFound(f"result {result_id!r} not found", field="result_id")
            return str(experiment_id)
        # Locking the trace row serialises concurrent upserts of its scores on PostgreSQL
        # (trace scores have no result, so the unique (result, name, source) key cannot).
        found = conn.execute(
            select(traces.c.id)
            .where(traces.c.id == trace_id, traces.c.project_id == self.project_id)
            .with_for_update()
        ).first()
        if found is None:
            raise NotFound(f"trace {trace_id!r} not found", field="trace_id")
        return None

    def upsert(
        self, data: ScoreCreate, *, result_id: str | None = None, trace_id: str | None = None
    ) -> Score:
        """Add a human/API score to a result or a trace, or replace the one with its name."""
        check_feedback(data)
        for attempt in range(3):
            try:
                with self.db.write() as conn:
                    return self._upsert(conn, data, result_id, trace_id)
            except IntegrityError:  # the same score was added concurrently: update it instead
                if attempt == 2:
                    raise Conflict(
                        f"score {data.name!r} was written concurrently; try again", field="name"
                    ) from None
        raise AssertionError("unreachable")

    def _upsert(
        self, conn: Connection, data: ScoreCreate, result_id: str | None, trace_id: str | None
    ) -> Score:
        experiment_id = self._owner(conn, result_id, trace_id)
        touch(conn, [experiment_id])
        key = scores.c.result_id == result_id if result_id else scores.c.trace_id == trace_id
        if trace_id is not None:
            key = and_(key, scores.c.result_id.is_(None))
        existing = conn.execute(
            select(scores.c.id).where(
                key,
                scores.c.name == data.name,
                scores.c.source == data.source.value,
                scores.c.project_id == self.project_id,
            )
        ).scalar_one_or_none()
        now = utcnow()
        values = _values(data)
        if existing is not None:
            conn.execute(
                update(scores).where(scores.c.id == existing).values(**values, updated_at=now)
            )
            score_id = str(existing)
        else:
            score_id = new_id()
            conn.execute(
                scores.insert().values(
                    id=score_id,
                    project_id=self.project_id,
                    experiment_id=experiment_id,
                    result_id=result_id,
                    trace_id=trace_id,
                    created_at=now,
                    updated_at=now,
                    **values,
                )
            )
        row = conn.execute(select(scores).where(scores.c.id == score_id)).one()
        return score_record(row._mapping)

    def get(self, score_id: str) -> Score:
        with self.db.read() as conn:
            row = conn.execute(
                select(scores).where(
                    scores.c.id == score_id, scores.c.project_id == self.project_id
                )
            ).first()
        if row is None:
            raise NotFound(f"score {score_id!r} not found", field="score")
        return score_record(row._mapping)

    def list(
        self,
        *,
        result_id: str | None = None,
        trace_id: str | None = None,
        experiment_id: str | None = None,
        name: str | None = None,
        source: ScoreSource | str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[Score]:
        """Scores filtered by result, trace, experiment, name and source (oldest first)."""
        if not 1 <= limit <= 10_000:
            raise InvalidInput("limit must be between 1 and 10000", field="limit")
        if offset < 0:
            raise InvalidInput("offset must not be negative", field="offset")
        query = select(scores).where(scores.c.project_id == self.project_id)
        if result_id is not None:
            query = query.where(scores.c.result_id == result_id)
        if trace_id is not None:
            query = query.where(scores.c.trace_id == trace_id)
        if experiment_id is not None:
            query = query.where(scores.c.experiment_id == experiment_id)
        if name is not None:
            query = query.where(scores.c.name == name)
        if source is not None:
            try:
                query = query.where(scores.c.source == ScoreSource(source).value)
            except ValueError:
                raise InvalidInput(
                    f"source must be one of {', '.join(ScoreSource)}", field="source"
                ) from None
        query = query.order_by(scores.c.created_at, scores.c.id).limit(limit).offset(offset)
        with self.db.read() as conn:
            return [score_record(r._mapping) for r in conn.execute(query)]

    def delete(self, score_id: str) -> None:
        with self.db.write() as conn:
            gone = conn.execute(
                delete(scores)
                .where(scores.c.id == score_id, scores.c.project_id == self.project_id)
                .returning(scores.c.experiment_id)
            ).all()
            touch(conn, [row[0] for row in gone])
        if not gone:
            raise NotFound(f"score {score_id!r} not found", field="score")

    def scored_runs(self, experiment_ids: Sequence[str]) -> set[str]:
        """The runs among ``experiment_ids`` that have at least one score (an index probe per
        run, not a count of their scores)."""
        query = select(experiments.c.id).where(
            experiments.c.id.in_(list(experiment_ids)),
            experiments.c.project_id == self.project_id,
            select(scores.c.id).where(scores.c.experiment_id == experiments.c.id).exists(),
        )
        with self.db.read() as conn:
            return set(conn.execute(query).scalars())

    # ------------------------------------------------------------------ re-scoring
    def completed_results(
        self, experiment_id: str, *, batch_size: int = 1000
    ) -> Iterator[StoredResult]:
        """Every completed result of an experiment, with its item's context and metadata."""
        with self.db.read() as conn:
            version = conn.execute(
                select(experiments.c.dataset_version).where(
                    experiments.c.id == experiment_id,
                    experiments.c.project_id == self.project_id,
                )
            ).first()
        if version is None:
            raise NotFound(f"experiment {experiment_id!r} not found", field="experiment")
        v = version[0]
        item = dataset_items.alias("item")
        join_on = item.c.id == results.c.item_id
        if v is not None:
            join_on = and_(
                join_on,
                item.c.valid_from <= v,
                or_(item.c.valid_to.is_(None), item.c.valid_to > v),
            )
        else:
            join_on = and_(join_on, item.c.valid_to.is_(None))
        high = run_span(self.db, experiment_id).high
        if high is None:  # no results
            return
        query = (
            select(results, item.c.context.label("item_context"), item.c.metadata.label("m"))
            .select_from(results.outerjoin(item, join_on))
            .where(*completed_page(experiment_id, high))
            .order_by(results.c.id)
            .limit(batch_size)
        )
        last = ""
        while True:
            with self.db.read() as conn:
                rows = conn.execute(query, {"after": last}).all()
            for r in rows:
                yield StoredResult(
                    r.id,
                    r.item_id,
                    r.repetition,
                    r.input,
                    r.expected_output,
                    r.output,
                    r.latency_ms,
                    r.cost,
                    r.tokens_in,
                    r.tokens_out,
                    r.item_context,
                    dict(r.m or {}),
                )
            if len(rows) < batch_size:
                return
            last = rows[-1].id

    def replace(
        self, experiment_id: str, by_result: Mapping[str, Sequence[ScoreCreate]]
    ) -> dict[str, bool | None]:
        """Store evaluator scores on results, replacing those with the same (name, source).

        One transaction. Each result's ``passed`` becomes the conjunction of its evaluator
        scores' verdicts (None without any); returns it by result id.
        """
        if not by_result:
            return {}
        with self.db.write() as conn:
            return replace_scores(conn, self.project_id, experiment_id, by_result)


def replace_scores(
    conn: Connection,
    project_id: str,
    experiment_id: str,
    by_result: Mapping[str, Sequence[ScoreCreate]],
) -> dict[str, bool | None]:
    """:meth:`Scores.replace` inside the caller's writing transaction."""
    if not by_result:
        return {}
    ids = builtins.list(by_result)
    now = utcnow()
    rows: builtins.list[dict[str, Any]] = []
    for result_id, batch in by_result.items():
        for s in batch:
            rows.append(
                {
                    "id": new_id(),
                    "project_id": project_id,
                    "experiment_id": experiment_id,
                    "result_id": result_id,
                    "trace_id": None,
                    "created_at": now,
                    "updated_at": now,
                    **_values(s),
                }
            )
    verdicts: dict[str, bool | None] = {}
    touch(conn, [experiment_id])
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        keys = {(s.name, s.source.value) for r in chunk for s in by_result[r]}
        for name, source in keys:
            conn.execute(
                delete(scores).where(
                    scores.c.result_id.in_(chunk),
                    scores.c.name == name,
                    scores.c.source == source,
                )
            )
    if rows:
        conn.execute(scores.insert(), rows)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        found: dict[str, builtins.list[bool]] = {r: [] for r in chunk}
        for result_id, passed in conn.execute(
            select(scores.c.result_id, scores.c.passed).where(
                scores.c.result_id.in_(chunk),
                scores.c.source == ScoreSource.evaluator.value,
                scores.c.passed.is_not(None),
            )
        ):
            found[result_id].append(bool(passed))
        for result_id, marks in found.items():
            verdicts[result_id] = all(marks) if marks else None
    conn.execute(
        update(results).where(results.c.id == bindparam("rid")).values(passed=bindparam("verdict")),
        [{"rid": k, "verdict": v} for k, v in verdicts.items()],
    )
    return verdicts
