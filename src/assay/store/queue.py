"""The database as the ledger of started experiments, shared by every worker process.

Starting an experiment marks it ``running`` with no worker. A worker takes a run nobody holds
(no worker, a stale heartbeat, or a dead process on this host) with a compare-and-set update,
so two workers never both take one run, and a restarted process picks up what was left.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select, update

from assay.domain import ExperimentStatus
from assay.errors import Conflict
from assay.store.active_time import close_period
from assay.store.db import Database
from assay.store.planning import worker_alive
from assay.store.tables import experiments, results
from assay.store.types import utcnow

_ACTIVE = (ExperimentStatus.running.value, ExperimentStatus.scoring.value)


@dataclass(frozen=True)
class Started:
    experiment_id: str
    runs: int
    started_at: datetime


@dataclass(frozen=True)
class Claim:
    experiment_id: str
    project_id: str


class RunQueue:
    """Start experiments and hand them to workers, across every project.

    What it guarantees:

    - **Start once.** :meth:`start` moves only a ``pending``, non-external experiment to
      ``running``, in one conditional update; anything else is a 409 and changes nothing.
    - **One holder at a time.** :meth:`claim_next` takes a run with a compare-and-set on its
      current holder (and on its status still being active), so of two workers racing for
      one run exactly one wins; the loser moves on to the next run.
    - **Nothing is lost to a crash.** A run whose holder is gone (no heartbeat for
      ``stale_after`` seconds, or a dead process on this host) can be claimed again, and the
      dead holder's active period is closed at its last heartbeat. Delivery is therefore at
      least once: a worker that stalls past ``stale_after`` may find its run taken over. That
      is safe because a new holder resumes the run, and a completed result is never written
      twice.
    - **Oldest first.** Runs are offered in ``(started_at, id)`` order; each call looks at
      the 100 oldest active runs only.

    It does not keep runs alive (the runner's monitor refreshes ``heartbeat_at``) and does not
    cancel them (``cancel_requested`` is read by the runner); it holds no state besides the
    ``experiments`` rows, so every process sharing the database sees the same queue.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    def start(self, project_id: str, experiment_id: str) -> Started:
        """Move a pending experiment to running, for a worker to take; 409 otherwise."""
        now = utcnow()
        c = experiments.c
        with self.db.write() as conn:
            done = conn.execute(
                update(experiments)
                .where(
                    c.id == experiment_id,
                    c.project_id == project_id,
                    c.status == ExperimentStatus.pending.value,
                    c.external.is_(False),
                )
                .values(
                    status=ExperimentStatus.running.value,
                    worker_id=None,
                    heartbeat_at=None,
                    started_at=now,
                    active_s=0.0,
                    resumed_at=now,
                )
            ).rowcount
            if done != 1:
                row = conn.execute(
                    select(c.status, c.external).where(
                        c.id == experiment_id, c.project_id == project_id
                    )
                ).one()
                what = (
                    "external: it has no config, its outputs are uploaded with "
                    f"POST /api/v1/dataset-runs/{experiment_id}/items/"
                    if row.external
                    else row.status
                )
                raise Conflict(
                    f"experiment {experiment_id} cannot start: it is {what}", field="status"
                )
            planned = conn.execute(
                select(c.plan_size, c.unwritten_base).where(c.id == experiment_id)
            ).one()
            if planned.unwritten_base is not None:  # its results get rows as they finish
                runs = int(planned.plan_size or 0)
            else:
                runs = conn.execute(
                    select(func.count()).where(results.c.experiment_id == experiment_id)
                ).scalar_one()
        return Started(experiment_id, int(runs), now)

    def claim_next(
        self, worker: str, *, stale_after: float, project_ids: Sequence[str] | None = None
    ) -> Claim | None:
        """Take the oldest started experiment that no live worker holds, or None."""
        c = experiments.c
        query = select(
            c.id,
            c.project_id,
            c.worker_id,
            c.heartbeat_at,
            c.active_s,
            c.resumed_at,
            c.started_at,
            c.finished_at,
        ).where(c.status.in_(_ACTIVE), c.external.is_(False))
        if project_ids is not None:
            query = query.where(c.project_id.in_(list(project_ids)))
        with self.db.read() as conn:
            rows = conn.execute(query.order_by(c.started_at, c.id).limit(100)).all()
        for row in rows:
            if worker_alive(row.worker_id, row.heartbeat_at, stale_after):
                continue
            holder = (
                c.worker_id.is_(None) if row.worker_id is None else c.worker_id == row.worker_id
            )
            now = utcnow()
            values: dict[str, Any] = {
                "worker_id": worker,
                "heartbeat_at": now,
                "lease": c.lease + 1,  # fences out the runner it takes over from
            }
            if row.worker_id is not None:  # a dead worker's active period ended at its heartbeat
                values["active_s"] = close_period(row, row.heartbeat_at or now)
                values["resumed_at"] = now
            with self.db.write() as conn:
                taken = conn.execute(
                    update(experiments)
                    .where(and_(c.id == row.id, c.status.in_(_ACTIVE), holder))
                    .values(**values)
                ).rowcount
            if taken == 1:
                return Claim(row.id, row.project_id)
        return None

    def set_notes(self, project_id: str, experiment_id: str, notes: str | None) -> None:
        """Replace an experiment's free-text notes (any status)."""
        c = experiments.c
        with self.db.write() as conn:
            conn.execute(
                update(experiments)
                .where(c.id == experiment_id, c.project_id == project_id)
                .values(notes=notes)
            )
