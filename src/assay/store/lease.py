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

from sqlalchemy import Connection, bindparam, literal, or_, update

from assay.domain.statuses import ExperimentStatus
from assay.errors import Conflict
from assay.store.run_frames import revision, touch
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


_c = experiments.c
# Built once: a result write fences every batch, and building the statement each time cost
# more than running it.
_HOLDER = update(experiments).where(
    _c.id == bindparam("lease_run"),
    _c.worker_id == bindparam("lease_worker"),
    _c.lease == bindparam("lease_token"),
    or_(*(_c.status == literal(status) for status in ACTIVE)),
)
_FENCE = _HOLDER.values(heartbeat_at=bindparam("lease_now"))
_FENCE_TOUCH = _HOLDER.values(
    heartbeat_at=bindparam("lease_now"), data_revision=_c.data_revision + 1
).returning(_c.data_revision)


def _params(lease: Lease) -> dict[str, object]:
    return {
        "lease_run": lease.experiment_id,
        "lease_worker": lease.worker,
        "lease_token": lease.token,
        "lease_now": utcnow(),
    }


def _lost(lease: Lease) -> LeaseLost:
    return LeaseLost(
        f"experiment {lease.experiment_id}: lease {lease.token} of {lease.worker} was lost "
        "(another runner took the run over)",
        field="experiment",
    )


def fence(conn: Connection, lease: Lease) -> None:
    """Check (and refresh) the lease inside a write transaction; raise :class:`LeaseLost`.

    The row update locks the experiment row until the transaction ends, so a concurrent
    takeover waits for this write or makes it fail: never both.
    """
    if conn.execute(_FENCE, _params(lease)).rowcount != 1:
        raise _lost(lease)


def fence_and_touch(conn: Connection, lease: Lease) -> int:
    """:func:`fence`, and mark the run's data as changed (see
    :func:`~assay.store.run_frames.touch`) in the same statement; returns the run's data
    revision as this transaction leaves it."""
    if not conn.dialect.update_returning:  # SQLite before 3.35
        fence(conn, lease)
        touch(conn, [lease.experiment_id])
        return revision(conn, lease.experiment_id)
    found = conn.execute(_FENCE_TOUCH, _params(lease)).scalar()
    if found is None:
        raise _lost(lease)
    return int(found)
