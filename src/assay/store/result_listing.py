"""Pages of an experiment's results without its summary (cheap at any depth)."""

from __future__ import annotations

from sqlalchemy import select

from assay.domain import ExperimentStatus, ResultsPage, ResultStatus
from assay.errors import InvalidInput, NotFound
from assay.store.db import Database
from assay.store.result_pages import page
from assay.store.tables import datasets, experiments


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
