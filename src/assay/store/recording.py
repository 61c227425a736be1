"""Recording finished results: flatten completions to rows, write them in one transaction.

Flattening is separate from writing so a writer in another process can receive plain tuples
(cheap to pickle) and write them with :func:`write_rows`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from assay.domain import ResultStatus, ScoreCreate, ScoreDataType
from assay.store.db import Database
from assay.store.planning import sequential_ids
from assay.store.run_bulk import Bulk
from assay.store.run_frames import touch
from assay.store.tables import results
from assay.store.types import utcnow

# (status, output, error, latency_ms, tokens_in, tokens_out, cost, attempts, passed,
#  started_at, finished_at, result_id)
ResultRow = tuple[Any, ...]
# (result_id, name, data_type, numeric_value, string_value, passed, reason, source,
#  evaluator_id, evaluator_version, cost, tokens_in, tokens_out, latency_ms, metadata)
ScoreRow = tuple[Any, ...]


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


def completion_rows(batch: Sequence[Completion]) -> tuple[list[ResultRow], list[ScoreRow]]:
    """Flatten completions (and their scores) to plain tuples."""
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
        )
        for c in batch
    ]
    score_rows = [
        (
            c.result_id,
            s.name,
            (s.data_type or ScoreDataType.categorical).value,
            s.numeric_value,
            s.string_value,
            s.passed,
            s.reason,
            s.source.value,
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
    return result_rows, score_rows


def _completed(conn: Connection, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), 900):
        rows = conn.execute(
            select(results.c.id).where(
                results.c.id.in_(ids[start : start + 900]),
                results.c.status == ResultStatus.completed.value,
            )
        )
        found.update(r[0] for r in rows)
    return found


def write_rows(
    db: Database,
    bulk: Bulk,
    project_id: str,
    experiment_id: str,
    result_rows: Sequence[ResultRow],
    score_rows: Sequence[ScoreRow],
) -> int:
    """One transaction: results not yet completed get their outcome and scores."""
    if not result_rows:
        return 0
    now = utcnow()
    with db.write() as conn:
        done = _completed(conn, [r[11] for r in result_rows])
        if done:
            result_rows = [r for r in result_rows if r[11] not in done]
            score_rows = [s for s in score_rows if s[0] not in done]
        if not result_rows:
            return 0
        bulk.record(conn, result_rows)
        touch(conn, [experiment_id])
        if score_rows:
            ids = sequential_ids(len(score_rows))
            bulk.insert_scores(
                conn,
                [
                    (ids[i], project_id, experiment_id, *row[:14], row[14], now, now)
                    for i, row in enumerate(score_rows)
                ],
            )
    return len(result_rows)
