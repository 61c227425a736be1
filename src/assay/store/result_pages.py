"""Results with their scores as records: a keyset page in plan order (with or without the
experiment's summary), or chosen items' results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, select

from assay.domain import ExperimentStatus, ResultDetail, ResultsPage, ResultStatus, Score
from assay.errors import InvalidInput, NotFound
from assay.store.db import Database
from assay.store.scores import score_record
from assay.store.sql import decode_cursor, encode_cursor
from assay.store.tables import datasets, experiments, results, scores

_RESULT_COLUMNS = list(results.c)
_IN_CHUNK = 500


def page(
    conn: Connection,
    experiment_id: str,
    status: ResultStatus | None,
    passed: bool | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[ResultDetail], str | None]:
    query = select(*_RESULT_COLUMNS).where(results.c.experiment_id == experiment_id)
    if status is not None:
        query = query.where(results.c.status == status.value)
    if passed is not None:
        query = query.where(results.c.passed.is_(passed))
    if cursor:
        (last_id,) = decode_cursor(cursor, 1)
        query = query.where(results.c.id > last_id)
    rows = conn.execute(query.order_by(results.c.id).limit(limit + 1)).all()
    rows, more = rows[:limit], len(rows) > limit
    return details(conn, rows), encode_cursor(rows[-1].id) if more else None


def for_items(conn: Connection, experiment_id: str, item_ids: Sequence[str]) -> list[ResultDetail]:
    """Every result (all repetitions) of the given dataset items, in plan order."""
    rows: list[Row[Any]] = []
    ids = sorted(set(item_ids))
    for start in range(0, len(ids), _IN_CHUNK):
        rows.extend(
            conn.execute(
                select(*_RESULT_COLUMNS).where(
                    results.c.experiment_id == experiment_id,
                    results.c.item_id.in_(ids[start : start + _IN_CHUNK]),
                )
            )
        )
    rows.sort(key=lambda r: r.id)
    return details(conn, rows)


def for_runs(
    conn: Connection, experiment_ids: Sequence[str], item_id: str
) -> list[tuple[str, ResultDetail]]:
    """One dataset item's results in several experiments, as (experiment id, result)."""
    if not experiment_ids:
        return []
    rows = conn.execute(
        select(*_RESULT_COLUMNS).where(
            results.c.item_id == item_id, results.c.experiment_id.in_(list(experiment_ids))
        )
    ).all()
    return list(zip([r.experiment_id for r in rows], details(conn, rows), strict=True))


def details(conn: Connection, rows: Sequence[Row[Any]]) -> list[ResultDetail]:
    """Result rows as records, with their scores read in one query."""
    by_result: dict[str, list[Score]] = {r.id: [] for r in rows}
    for start in range(0, len(rows), _IN_CHUNK):
        chunk = [r.id for r in rows[start : start + _IN_CHUNK]]
        score_rows = conn.execute(
            select(scores)
            .where(scores.c.result_id.in_(chunk))
            .order_by(scores.c.result_id, scores.c.name)
        )
        for s in score_rows:
            by_result[s.result_id].append(score_record(s._mapping))
    return [
        ResultDetail.model_construct(
            id=r.id,
            dataset_item_id=r.item_id,
            repetition=r.repetition,
            status=ResultStatus(r.status),
            output=r.output,
            error=r.error or "",
            latency_ms=r.latency_ms,
            tokens_in=r.tokens_in,
            tokens_out=r.tokens_out,
            cost=r.cost,
            attempts=r.attempts,
            passed=r.passed,
            item_input=r.input,
            item_expected_output=r.expected_output,
            started_at=r.started_at,
            finished_at=r.finished_at,
            trace_id=r.trace_id,
            observation_id=r.observation_id,
            scores=by_result[r.id],
        )
        for r in rows
    ]


def results_page(
    db: Database,
    project_id: str,
    experiment_id: str,
    *,
    status: ResultStatus | None = None,
    passed: bool | None = None,
    limit: int = 100,
    cursor: str | None = None,
) -> ResultsPage:
    """A page of results without the summary: cheap at any depth."""
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000", field="limit")
    with db.read() as conn:
        row = conn.execute(
            select(experiments.c.id, experiments.c.name, experiments.c.status, datasets.c.name)
            .select_from(experiments.outerjoin(datasets, datasets.c.id == experiments.c.dataset_id))
            .where(experiments.c.project_id == project_id, experiments.c.id == experiment_id)
        ).first()
        if row is None:
            raise NotFound(f"experiment {experiment_id!r} not found", field="experiment")
        rows, next_cursor = page(conn, row[0], status, passed, limit, cursor)
    return ResultsPage(
        experiment_id=row[0],
        experiment_name=row[1],
        dataset_name=row[3],
        status=ExperimentStatus(row[2]),
        summary=None,
        results=rows,
        next_cursor=next_cursor,
    )
