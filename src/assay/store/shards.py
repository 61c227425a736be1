"""What part of a planned run is already done: the store side of running one run in shards."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from assay.domain import ResultStatus
from assay.store.db import Database
from assay.store.tables import results

_OPEN = (ResultStatus.pending.value, ResultStatus.running.value, ResultStatus.cancelled.value)


def finished_ids(
    db: Database, experiment_id: str, ids: Sequence[str], *, retry_errors: bool = False
) -> set[str]:
    """Of these results, those a run must not execute again: completed ones, and failed ones
    unless ``retry_errors`` (what :meth:`~assay.store.experiments.Experiments.unfinished`
    leaves out)."""
    open_ = list(_OPEN) + ([ResultStatus.failed.value] if retry_errors else [])
    done: set[str] = set()
    with db.read() as conn:
        for start in range(0, len(ids), 900):
            rows = conn.execute(
                select(results.c.id).where(
                    results.c.experiment_id == experiment_id,
                    results.c.id.in_(list(ids[start : start + 900])),
                    results.c.status.not_in(open_),
                )
            )
            done.update(r[0] for r in rows)
    return done
