"""A run's duration is its active time: an interrupted and resumed run leaves out the gap."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text, update

from assay.domain import DatasetCreate, ExperimentCreate, ExperimentStatus, ItemCreate
from assay.store import Database, Store
from assay.store.migrate import downgrade, upgrade
from assay.store.queue import RunQueue
from assay.store.tables import experiments
from assay.store.types import utcnow

DEAD = "another-host:1:0000dead"  # a runner on another host whose heartbeat went stale


def _planned(store: Store) -> str:
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items("qa", [ItemCreate(input={"q": f"q{i}"}) for i in range(2)])
    experiment, _ = store.experiments.create(ExperimentCreate(name="run", dataset="qa"))
    return experiment.id


def _set(store: Store, experiment_id: str, **values: Any) -> None:
    with store.db.write() as conn:
        conn.execute(update(experiments).where(experiments.c.id == experiment_id).values(values))


def _row(store: Store, experiment_id: str) -> Any:
    with store.db.read() as conn:
        return conn.execute(select(experiments).where(experiments.c.id == experiment_id)).one()


def _duration(store: Store, experiment_id: str) -> float:
    duration = store.experiments.summary(experiment_id).duration_s
    assert duration is not None
    return duration


def test_a_resumed_run_counts_its_active_periods_not_the_gap(store: Store) -> None:
    run = _planned(store)
    assert store.experiments.summary(run).duration_s is None  # never started
    store.experiments.claim(run, "runner-1")
    store.experiments.finish(run, ExperimentStatus.cancelled, "cancelled")
    # The first period lasted 5 s and was interrupted an hour ago.
    stopped = utcnow() - timedelta(hours=1)
    _set(store, run, started_at=stopped - timedelta(seconds=5), finished_at=stopped, active_s=5.0)
    assert _duration(store, run) == 5.0

    store.experiments.claim(run, "runner-2")  # resumed
    assert _row(store, run).resumed_at is not None
    assert 5.0 <= _duration(store, run) < 600
    store.experiments.finish(run, ExperimentStatus.completed, None)
    row = _row(store, run)
    assert row.resumed_at is None
    assert (row.finished_at - row.started_at).total_seconds() > 3600  # the wall clock
    assert 5.0 <= _duration(store, run) == row.active_s < 600  # the active time


def test_a_dead_runners_period_ends_at_its_last_heartbeat(store: Store) -> None:
    queue = RunQueue(store.db)
    run = _planned(store)
    started = queue.start(store.project_id, run)
    assert _row(store, run).resumed_at == started.started_at
    # Only this test's project: other tests' runs share the session's PostgreSQL database.
    mine = [store.project_id]
    claim = queue.claim_next("runner-1", stale_after=30, project_ids=mine)
    assert claim is not None
    assert claim.experiment_id == run
    store.experiments.claim(run, "runner-1")  # the same period goes on
    assert _row(store, run).resumed_at == started.started_at

    def died(worker: str, beat_minutes_ago: int, ran_minutes: int) -> datetime:
        beat = utcnow() - timedelta(minutes=beat_minutes_ago)
        since = beat - timedelta(minutes=ran_minutes)
        _set(store, run, worker_id=worker, heartbeat_at=beat, resumed_at=since, active_s=0.0)
        return beat

    # The worker queue takes it over: 10 minutes ran before the runner died an hour ago.
    died(DEAD, 60, 10)
    claim = queue.claim_next("runner-2", stale_after=30, project_ids=mine)
    assert claim is not None
    assert claim.experiment_id == run
    assert _row(store, run).active_s == 600.0
    store.experiments.claim(run, "runner-2")
    assert _row(store, run).active_s == 600.0
    store.experiments.finish(run, ExperimentStatus.completed, None)
    assert 600.0 <= _duration(store, run) < 1200

    # A runner resuming it directly (assay run --resume) closes the dead period the same way.
    died(DEAD, 60, 2)
    _set(store, run, status=ExperimentStatus.running.value, finished_at=None)
    store.experiments.claim(run, "runner-3")
    assert _row(store, run).active_s == 120.0

    # Cancelling a run whose runner died ends its period at the last heartbeat too.
    died(DEAD, 30, 3)
    store.experiments.request_cancel(run, stale_after=30)
    assert _row(store, run).status == ExperimentStatus.cancelled.value
    assert _duration(store, run) == 180.0


def test_runs_from_before_the_migration_keep_their_wall_clock_duration(
    empty_db: Database,
) -> None:
    upgrade(empty_db, "c5e8a1f3")
    with empty_db.write() as conn:
        conn.execute(
            text(
                "INSERT INTO projects (id, name, created_at) "
                "VALUES ('p1', 'one', '2026-01-01T00:00:00.000000Z')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO experiments (id, project_id, name, config, evaluator_ids, scorers, "
                "concurrency, tags, metadata, status, created_at, started_at, finished_at) "
                "VALUES ('e1', 'p1', 'old', '{}', '[]', '[]', 1, '[]', '{}', 'completed', "
                "'2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', "
                "'2026-01-01T00:01:30.000000Z')"
            )
        )
    upgrade(empty_db)
    assert Store(empty_db, "p1").experiments.summary("e1").duration_s == 90.0
    downgrade(empty_db, "c5e8a1f3")
    with empty_db.read() as conn:
        assert conn.execute(text("SELECT id FROM experiments")).scalars().all() == ["e1"]
