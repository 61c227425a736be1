"""A runner that lost its lease (paused past stale_after, then resumed) stops and writes nothing.

The clock the runner checks its lease with is a fake one: the pause is a jump of that clock, so
the test does not depend on the machine's speed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from assay.domain import (
    DatasetCreate,
    ExperimentCreate,
    ExperimentStatus,
    ItemCreate,
    ResultStatus,
)
from assay.engine import Runner, RunOptions
from assay.store import Completion, Store, run_frames
from assay.store.lease import LeaseLost, fence_and_touch
from assay.store.queue import RunQueue
from assay.targets.function import FunctionTarget
from tests.fakes.clock import FakeClock

ITEMS = 6


def planned_run(store: Store) -> str:
    store.datasets.create(DatasetCreate(name="qa"))
    store.datasets.add_items("qa", [ItemCreate(input={"n": i}) for i in range(ITEMS)])
    experiment, _ = store.experiments.create(
        ExperimentCreate(name="leased", dataset="qa"), config_hash="h"
    )
    return experiment.id


def options(worker: str, clock: FakeClock, writer: str = "thread") -> RunOptions:
    # The monitor never wakes during the test: only the slots' lease checks can stop A.
    return RunOptions(
        concurrency=1,
        writer=writer,
        worker=worker,
        stale_after=30.0,
        heartbeat_interval=3600.0,
        poll_interval=3600.0,
        max_retries=0,
        clock=clock,
    )


def target(fn: Callable[[dict[str, Any]], str], is_async: bool) -> FunctionTarget:
    if not is_async:
        return FunctionTarget(fn)

    async def call(data: dict[str, Any]) -> str:
        return fn(data)

    return FunctionTarget(call)


@pytest.mark.parametrize("writer", ["thread", "process"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_a_paused_runner_stops_once_another_took_its_run_over(
    store: Store, is_async: bool, writer: str
) -> None:
    run = planned_run(store)
    clock = FakeClock()
    calls: list[tuple[str, int]] = []
    takeover_at: list[int] = []

    def task_a(data: dict[str, Any]) -> str:
        calls.append(("A", data["n"]))
        if len(calls) == 2:  # A pauses mid-call; meanwhile B takes the run over
            clock.advance(120.0)
            claim = RunQueue(store.db).claim_next(
                "host-b:1:b", stale_after=0.0, project_ids=[store.project_id]
            )
            assert claim is not None
            assert claim.experiment_id == run
            takeover_at.append(len(calls))
        return f"A{data['n']}"

    runner_a = Runner(store, target(task_a, is_async), (), options("host-a:1:a", clock, writer))
    with pytest.raises(LeaseLost):
        asyncio.run(runner_a.run(run))

    # A called nothing after the takeover but the call that was in flight.
    assert takeover_at == [2]
    assert len(calls) == 2
    # A ended nothing: the run is B's, still running.
    assert store.experiments.get(run).status == ExperimentStatus.running

    def task_b(data: dict[str, Any]) -> str:
        calls.append(("B", data["n"]))
        return f"B{data['n']}"

    runner_b = Runner(store, target(task_b, is_async), (), options("host-b:1:b", FakeClock()))
    finished = asyncio.run(runner_b.run(run))
    assert finished.status == ExperimentStatus.completed

    by_b = [n for who, n in calls if who == "B"]
    assert len(by_b) == len(set(by_b))  # B called each item once
    results = store.experiments.results(run, limit=100).results
    assert len(results) == ITEMS
    assert all(r.status == ResultStatus.completed for r in results)
    # The result of A's in-flight call was refused: every result but the first is B's.
    outputs = [r.output for r in sorted(results, key=lambda r: r.id)]  # plan (item) order
    assert outputs[1:] == [f"B{n}" for n in range(1, ITEMS)]
    assert outputs[0] in ("A0", "B0")


def test_a_write_under_a_stale_lease_is_refused_in_its_transaction(store: Store) -> None:
    run = planned_run(store)
    _, old = store.experiments.claim_lease(run, "host-a:1:a")
    _, new = store.experiments.claim_lease(run, "host-b:1:b", stale_after=0.0)
    assert new.token > old.token
    rid = store.experiments.unfinished(run)[1][0].result_id
    done = Completion(rid, ResultStatus.completed.value, output="late", attempts=1)

    with pytest.raises(LeaseLost):
        store.experiments.record(run, [done], lease=old)
    assert not store.experiments.heartbeat(run, "host-a:1:a", old)
    with pytest.raises(LeaseLost):
        store.experiments.finish(run, ExperimentStatus.failed, "stale", lease=old)
    assert store.experiments.summary(run).completed == 0
    assert store.experiments.get(run).status == ExperimentStatus.running

    assert store.experiments.heartbeat(run, "host-b:1:b", new)
    assert store.experiments.record(run, [done], lease=new) == 1


def test_a_cancelled_run_fences_its_runner(store: Store) -> None:
    run = planned_run(store)
    _, lease = store.experiments.claim_lease(run, "host-a:1:a")
    store.experiments.finish(run, ExperimentStatus.cancelled, "cancelled")
    rid = store.experiments.unfinished(run)[1][0].result_id
    with pytest.raises(LeaseLost):
        store.experiments.record(
            run, [Completion(rid, ResultStatus.completed.value, output="x")], lease=lease
        )


@pytest.mark.parametrize("returning", [True, False], ids=["returning", "without returning"])
def test_a_fresh_write_fences_and_counts_its_revision_in_one_step(
    store: Store, returning: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh batch's fence also bumps the run's data revision and returns it (on a SQLite
    without ``RETURNING``, in three statements); a stale lease changes nothing."""
    monkeypatch.setattr(store.db.engine.dialect, "update_returning", returning)
    run = planned_run(store)
    _, old = store.experiments.claim_lease(run, "host-a:1:a")
    with store.db.read() as conn:
        start = run_frames.revision(conn, run)
    with store.db.write() as conn:
        assert fence_and_touch(conn, old) == start + 1
        assert fence_and_touch(conn, old) == start + 2
    _, new = store.experiments.claim_lease(run, "host-b:1:b", stale_after=0.0)
    with pytest.raises(LeaseLost), store.db.write() as conn:
        fence_and_touch(conn, old)
    with store.db.read() as conn:
        assert run_frames.revision(conn, run) == start + 2
    with store.db.write() as conn:
        assert fence_and_touch(conn, new) == start + 3
