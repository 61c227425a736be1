"""Human and API scores on a result or a trace: add (or replace by name and source), list,
delete. Evaluator scores are written by runs; these are the scores people and tools send."""

from __future__ import annotations

import builtins
import math
from typing import Any

from sqlalchemy import Connection, and_, delete, select, update
from sqlalchemy.exc import IntegrityError

from assay.domain import Score, ScoreCreate, ScoreDataType, ScoreSource
from assay.errors import Conflict, InvalidInput, NotFound
from assay.ids import new_id
from assay.store.db import Database
from assay.store.result_pages import _score
from assay.store.tables import experiments, results, scores, traces
from assay.store.types import utcnow


def check_feedback(data: ScoreCreate) -> None:
    """A source other than evaluator, and a value of the score's data type."""
    if data.source is ScoreSource.evaluator:
        raise InvalidInput(
            "source must be 'human' or 'api'; evaluator scores are written by runs",
            field="source",
        )
    value, kind = data.value, data.data_type
    if value is None:
        raise InvalidInput("value is required", field="value")
    if kind is ScoreDataType.boolean and not isinstance(value, bool):
        raise InvalidInput(f"a boolean score needs true or false, got {value!r}", field="value")
    if kind is ScoreDataType.numeric and (
        isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
    ):
        raise InvalidInput(f"a numeric score needs a finite number, got {value!r}", field="value")
    if kind is ScoreDataType.categorical and not isinstance(value, str):
        raise InvalidInput(f"a categorical score needs a text label, got {value!r}", field="value")


class Feedback:
    """Feedback scores within one project."""

    def __init__(self, db: Database, project_id: str) -> None:
        self.db = db
        self.project_id = project_id

    def _owner(self, conn: Connection, result_id: str | None, trace_id: str | None) -> str | None:
        if (result_id is None) == (trace_id is None):
            raise InvalidInput("give exactly one of result_id or trace_id", field="result_id")
        if result_id is not None:
            found = conn.execute(
                select(results.c.experiment_id)
                .join(experiments, experiments.c.id == results.c.experiment_id)
                .where(results.c.id == result_id, experiments.c.project_id == self.project_id)
            ).scalar_one_or_none()
            if found is None:
                raise NotFound(f"result {result_id!r} not found", field="result_id")
            return str(found)
        trace = conn.execute(
            select(traces.c.id)
            .where(traces.c.id == trace_id, traces.c.project_id == self.project_id)
            .with_for_update()
        ).first()
        if trace is None:
            raise NotFound(f"trace {trace_id!r} not found", field="trace_id")
        return None

    def upsert(
        self, data: ScoreCreate, *, result_id: str | None = None, trace_id: str | None = None
    ) -> Score:
        """Add a score, or replace the one with the same name and source on that target."""
        check_feedback(data)
        try:
            with self.db.write() as conn:
                return self._upsert(conn, data, result_id, trace_id)
        except IntegrityError:
            raise Conflict(f"score {data.name!r} was written concurrently", field="name") from None

    def _upsert(
        self, conn: Connection, data: ScoreCreate, result_id: str | None, trace_id: str | None
    ) -> Score:
        experiment_id = self._owner(conn, result_id, trace_id)
        c = scores.c
        target = (
            c.result_id == result_id
            if result_id is not None
            else and_(c.trace_id == trace_id, c.result_id.is_(None))
        )
        existing = conn.execute(
            select(c.id).where(
                target,
                c.name == data.name,
                c.source == data.source.value,
                c.project_id == self.project_id,
            )
        ).scalar_one_or_none()
        now = utcnow()
        values: dict[str, Any] = {
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
            "updated_at": now,
        }
        if existing is not None:
            score_id = str(existing)
            conn.execute(update(scores).where(c.id == score_id).values(values))
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
                    **values,
                )
            )
        return _score(conn.execute(select(scores).where(c.id == score_id)).one()._mapping)

    def get(self, score_id: str) -> Score:
        with self.db.read() as conn:
            row = conn.execute(
                select(scores).where(
                    scores.c.id == score_id, scores.c.project_id == self.project_id
                )
            ).first()
        if row is None:
            raise NotFound(f"score {score_id!r} not found", field="score")
        return _score(row._mapping)

    def list(
        self,
        *,
        result_id: str | None = None,
        trace_id: str | None = None,
        experiment_id: str | None = None,
        name: str | None = None,
        source: ScoreSource | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[Score]:
        """Scores filtered by result, trace, experiment, name and source, oldest first."""
        c = scores.c
        query = select(scores).where(c.project_id == self.project_id)
        for column, value in (
            (c.result_id, result_id),
            (c.trace_id, trace_id),
            (c.experiment_id, experiment_id),
            (c.name, name),
            (c.source, source.value if source else None),
        ):
            if value is not None:
                query = query.where(column == value)
        query = query.order_by(c.created_at, c.id).limit(limit).offset(offset)
        with self.db.read() as conn:
            return [_score(r._mapping) for r in conn.execute(query)]

    def delete(self, score_id: str) -> None:
        with self.db.write() as conn:
            gone = conn.execute(
                delete(scores).where(
                    scores.c.id == score_id, scores.c.project_id == self.project_id
                )
            ).rowcount
        if not gone:
            raise NotFound(f"score {score_id!r} not found", field="score")
