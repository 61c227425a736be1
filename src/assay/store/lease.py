"""Leases on running experiments: who runs a run, fenced by a token.

Every claim of a run (a worker taking it, a runner resuming it, a plan born running) bumps the
experiment's ``lease`` counter, so the token a runner holds is stale the moment another runner
takes over. Heartbeats and result writes state the holder and token they believe in; the
write checks them with an ``UPDATE`` of the experiment row in the same transaction as the
results, so a runner that lost its lease (paused past ``stale_after``, then resumed) cannot
write another row, and its heartbeat tells it to stop.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, update

from assay.domain import ExperimentStatus
from assay.errors import Conflict
from assay.store.tables import experiments
from assay.store.types import utcnow

FIRST_LEASE = 1  # the token of a run planned by the runner that executes it
ACTIVE = (ExperimentStatus.running.value, ExperimentStatus.scoring.value)


class LeaseLost(Conflict):
    """Another runner took the run over (or it ended): this runner must stop, writing nothing."""


@dataclass(frozen=True, slots=True)
class Lease:
    """A runner's hold on one run: its identity and the token its claim received."""

    experiment_id: str
    worker: str
    token: int


def fence(conn: Connection, lease: Lease) -> None:
    """Check (and refresh) the lease inside a write transaction; raise :class:`LeaseLost`.

    The row update locks the experiment row until the transaction ends, so a concurrent
    takeover waits for this write or makes it fail: never both.
    """
    c = experiments.c
    held = conn.execute(
        update(experiments)
        .where(
            c.id == lease.experiment_id,
            c.worker_id == lease.worker,
            c.lease == lease.token,
            c.status.in_(ACTIVE),
        )
        .values(heartbeat_at=utcnow())
    ).rowcount
    if held != 1:
        raise LeaseLost(
            f"experiment {lease.experiment_id}: lease {lease.token} of {lease.worker} was lost "
            "(another runner took the run over)",
            field="experiment",
        )
