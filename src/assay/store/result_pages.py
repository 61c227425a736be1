"""Results with their scores as :class:`~assay.domain.Result` records: a keyset page in plan
order, the count of a filtered listing, or chosen items' results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Row, Select, func, select

from assay.domain import Result, ResultStatus, Score
from assay.store.scores import score_record
from assay.store.sql import decode_cursor, encode_cursor
from assay.store.tables import results, scores

_IN_CHUNK = 500


def _filtered(
    query: Select[Any], experiment_id: str, status: ResultStatus | None, passed: bool | None
) -> Select[Any]:
    query = query.where(results.c.experiment_id == experiment_id)
    if status is not None:
        query = query.where(results.c.status == status.value)
    if passed is not None:
        query = query.where(results.c.passed.is_(passed))
    return query


def page(
    conn: Connection,
    experiment_id: str,
    status: ResultStatus | None,
    passed: bool | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Result], str | None]:
    query = _filtered(select(results), experiment_id, status, passed)
    if cursor:
        (last_id,) = decode_cursor(cursor, 1)
        query = query.where(results.c.id > last_id)
    rows = conn.execute(query.order_by(results.c.id).limit(limit + 1)).all()
    rows, more = rows[:limit], len(rows) > limit
    return records(conn, rows), encode_cursor(rows[-1].id) if more else None


def count(
    conn: Connection, experiment_id: str, status: ResultStatus | None, passed: bool | None
) -> int:
    """Results of the experiment matching the filters."""
    query = _filtered(select(func.count()).select_from(results), experiment_id, status, passed)
    return int(conn.execute(query).scalar_one())


def for_items(conn: Connection, experiment_id: str, item_ids: Sequence[str]) -> list[Result]:
    """Every result (all repetitions) of the given dataset items, in plan order."""
    rows: list[Row[Any]] = []
    ids = sorted(set(item_ids))
    for start in range(0, len(ids), _IN_CHUNK):
        rows.extend(
            conn.execute(
                select(results).where(
                    results.c.experiment_id == experiment_id,
                    results.c.item_id.in_(ids[start : start + _IN_CHUNK]),
                )
            )
        )
    rows.sort(key=lambda r: r.id)
    return records(conn, rows)


def for_runs(
    conn: Connection, experiment_ids: Sequence[str], item_id: str
) -> list[tuple[str, Result]]:
    """One dataset item's results in several experiments, as (experiment id, result)."""
    if not experiment_ids:
        return []
    rows = conn.execute(
        select(results).where(
            results.c.item_id == item_id, results.c.experiment_id.in_(list(experiment_ids))
        )
    ).all()
    return list(zip([r.experiment_id for r in rows], records(conn, rows), strict=True))


def records(conn: Connection, rows: Sequence[Row[Any]]) -> list[Result]:
    """Result rows as records, with their scores read in one query per chunk."""
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
        Result.model_construct(
            **{
                **r._mapping,
                "status": ResultStatus(r.status),
                "error": r.error or None,
                "scores": by_result[r.id],
            }
        )
        for r in rows
    ]
