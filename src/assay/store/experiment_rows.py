"""Reading experiment rows: the record of a row, a run by id or name, whether it is interrupted.

:class:`ExperimentRows` is the base of the experiments repository
(:class:`~assay.store.experiments.Experiments`) and of its parts in other modules (planning in
:mod:`assay.store.experiment_plans`, result reads in :mod:`assay.store.experiment_results`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, or_, select

from assay.domain import CLI_ACTOR, Experiment, ExperimentStatus
from assay.errors import InvalidInput, NotFound
from assay.store.datasets import Datasets
from assay.store.db import Database
from assay.store.planning import worker_alive
from assay.store.run_bulk import Bulk
from assay.store.sealing import has_sealed
from assay.store.tables import experiments

MAX_LIMIT = 1000

#: A run not heard from for this long (and not provably alive on this host) reads interrupted.
STALE_AFTER = 30.0
ACTIVE = (ExperimentStatus.running.value, ExperimentStatus.scoring.value)


def experiment_record(row: Row[Any]) -> Experiment:
    """The record of a row (a run whose runner is gone reads ``interrupted``)."""
    m = dict(row._mapping)
    m.pop("sort_key", None)
    m.pop("cancel_requested", None)
    worker = m.pop("worker_id", None)
    heartbeat = m.pop("heartbeat_at", None)
    m.pop("data_revision", None)
    m.pop("active_s", None)
    m.pop("resumed_at", None)
    m.pop("lease", None)
    m.pop("plan_size", None)
    m.pop("unwritten_base", None)
    m["status"] = ExperimentStatus(m["status"])
    if interrupted(m["status"].value, worker, heartbeat):
        m["status"] = ExperimentStatus.interrupted
    return Experiment.model_construct(**m)


def interrupted(status: str, worker: str | None, heartbeat_at: datetime | None) -> bool:
    """A run marked running by a process that is gone: its process on this host is dead, or
    it has not sent a heartbeat for :data:`STALE_AFTER` seconds. A started run no worker has
    taken yet (no worker id: queued for ``assay worker``) is not interrupted."""
    return (
        status in ACTIVE
        and worker is not None
        and not worker_alive(worker, heartbeat_at, STALE_AFTER)
    )


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    return limit


class ExperimentRows:
    """Experiment rows of one project, read by id or name."""

    def __init__(self, db: Database, project_id: str, actor: str = CLI_ACTOR) -> None:
        self.db = db
        self.project_id = project_id
        self.actor = actor  # who the audit log records for deletes
        self._datasets = Datasets(db, project_id)
        self._bulk = Bulk(db.dialect)

    def _open(self, row: Row[Any]) -> Experiment:
        """The record of a row, its sealed secrets opened (for the runner that needs them)."""
        experiment = experiment_record(row)
        if not (has_sealed(experiment.config) or has_sealed(experiment.scorers)):
            return experiment
        keyring = self.db.keyring
        return experiment.model_copy(
            update={
                "config": keyring.unseal_tree(experiment.config),
                "scorers": keyring.unseal_tree(experiment.scorers),
            }
        )

    def get(self, ref: str) -> Experiment:
        """An experiment by id, or the newest one with that name."""
        with self.db.read() as conn:
            return self._open(self._row(conn, ref))

    def _row(self, conn: Connection, ref: str) -> Row[Any]:
        query = (
            select(experiments)
            .where(
                experiments.c.project_id == self.project_id,
                or_(experiments.c.id == ref, experiments.c.name == ref),
            )
            .order_by(experiments.c.created_at.desc())
            .limit(1)
        )
        row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"experiment {ref!r} not found", field="experiment")
        return row
