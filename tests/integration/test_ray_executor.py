"""The Ray executor on a real local cluster: a head and a worker node, separate processes.

One run's results go out as shards; these tests check the results equal a local run's, where
they are written (shards on PostgreSQL, the driver on SQLite), that a run the driver plans
writes no pending rows (each result is inserted once, whole, and the listings show the others
as pending, derived from the plan), that a killed node loses and repeats nothing, that cancel
reaches every shard, and that a rate limit holds cluster-wide.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

import assay
from assay.config import Settings
from assay.domain import DatasetCreate, ExperimentStatus, ItemCreate
from assay.engine import RunOptions
from assay.scaleout.driver import RayRunner, on_ray
from assay.scorers import exact_match
from assay.service.compare import compare_runs
from assay.service.experiments import prepare
from assay.service.targets import as_target
from assay.store import Store
from assay.store.shards import finished_ids
from assay.store.tables import experiments, results
from tests.fakes.provider import FakeProvider
from tests.fakes.ray_cluster import LocalCluster
from tests.fakes.ray_tasks import (
    DOOMED_CALLS,
    finished_calls,
    hang,
    length_ratio,
    shout,
    shout_past_gate,
    shout_until_killed,
    slow_shout,
)

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

# Seconds the run may take to reach the moment its worker node is killed (less than the call
# stuck there waits for it: ``ray_tasks.STALL``).
KILL_WITHIN = 60.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    """A head node and one worker node (one CPU each), shared by this module's tests. Its
    teardown fails if any process the cluster started outlives it (``ClusterLeftovers``)."""
    import ray

    with LocalCluster(workers=0) as c:
        # Joined before the worker node exists: this process attaches to the head's raylet.
        ray.init(address=c.address, log_to_driver=False, logging_level="WARNING")
        c.add_node()
        try:
            yield c
        finally:
            ray.shutdown()


def _data(n: int) -> list[dict[str, Any]]:
    return [{"input": f"item {i}", "expected_output": f"ITEM {i}"} for i in range(n)]


def _prepared(
    store: Store,
    settings: Settings,
    task: Callable[..., Any],
    n: int,
    *,
    trials: int = 1,
    shards: int | None = None,
    **options: Any,
) -> RayRunner:
    """A planned run of ``task`` over ``n`` items, placed on the cluster; returns its runner."""
    name = f"ds-{time.monotonic_ns()}"
    store.datasets.create(DatasetCreate(name=name))
    store.datasets.add_items(name, [ItemCreate(**row) for row in _data(n)])
    prepared = prepare(
        store,
        as_target(task, store, settings),
        [exact_match(), length_ratio()],
        RunOptions(**options),
        dataset=name,
        trials=trials,
    )
    placed = on_ray(prepared, shards=shards)
    runner = placed.runner
    assert isinstance(runner, RayRunner)
    runner.prepared = placed  # type: ignore[attr-defined]
    return runner


def _run(runner: RayRunner) -> Any:
    return asyncio.run(runner.prepared.run())  # type: ignore[attr-defined]


def _stored(store: Store, experiment_id: str) -> list[tuple[Any, ...]]:
    """Every stored result as (item, repetition, status, output, error, scores)."""
    rows = []
    for r in store.experiments.iter_results(experiment_id):
        scores = sorted((s.name, s.numeric_value, s.string_value, s.passed) for s in r.scores)
        rows.append((r.item_id, r.repetition, r.status, r.output, r.error, tuple(scores)))
    return sorted(rows, key=lambda row: (str(row[0]), row[1]))


def _rows(store: Store, experiment_id: str) -> list[tuple[str, str]]:
    """The run's result rows as stored, (id, status) in id order: no row is derived."""
    with store.db.read() as conn:
        query = (
            select(results.c.id, results.c.status)
            .where(results.c.experiment_id == experiment_id)
            .order_by(results.c.id)
        )
        return [(r[0], r[1]) for r in conn.execute(query)]


def _unwritten_base(store: Store, experiment_id: str) -> str | None:
    with store.db.read() as conn:
        query = select(experiments.c.unwritten_base).where(experiments.c.id == experiment_id)
        return conn.execute(query).scalar_one()  # type: ignore[no-any-return]


def _without_ids(model: Any, ids: dict[str, str]) -> Any:
    text = json.dumps(model.model_dump(mode="json"), sort_keys=True)
    for run_id, label in ids.items():
        text = text.replace(run_id, label)
    return json.loads(text)


def test_ray_run_equals_local_run(cluster: LocalCluster, store: Store, settings: Settings) -> None:
    data = _data(150)
    scorers = [exact_match(), length_ratio()]
    common: dict[str, Any] = {"store": store, "settings": settings, "trials": 2, "quiet": True}
    base = assay.evaluate(data, shout, scorers, **common)
    local = assay.evaluate(data, shout, scorers, **common)
    on_cluster = assay.evaluate(
        data, shout, scorers, executor="ray", ray_address=cluster.address, **common
    )
    assert on_cluster.status == local.status == "completed"
    assert _stored(store, on_cluster.id) == _stored(store, local.id)
    assert len(_stored(store, on_cluster.id)) == 300

    def summary(run: Any) -> dict[str, Any]:
        drop = {
            "id",
            "avg_latency_ms",
            "p50_latency_ms",
            "p95_latency_ms",
            "duration_s",
            "judge_latency_ms",
        }
        values = {k: v for k, v in run.summary.model_dump().items() if k not in drop}
        for score in values["scores"]:  # a database sums rows in its own order
            score["mean"] = pytest.approx(score["mean"], rel=1e-9)
        return values

    assert summary(on_cluster) == summary(local)
    assert summary(local)["failed"] == 30  # the failing items failed on the cluster too
    against_local = compare_runs(store, [base.id, local.id], items=False)
    against_ray = compare_runs(store, [base.id, on_cluster.id], items=False)
    for field in ("metrics", "regressions", "improvements", "reliability"):
        a = _without_ids(against_local, {base.id: "A", local.id: "B"})[field]
        b = _without_ids(against_ray, {base.id: "A", on_cluster.id: "B"})[field]
        assert a == b, field


def test_where_results_are_written(
    cluster: LocalCluster, store: Store, settings: Settings, db_kind: str
) -> None:
    runner = _prepared(store, settings, shout, 120, shards=4)
    experiment = _run(runner)
    assert experiment.status == ExperimentStatus.completed
    assert len(runner.outcomes) == 4
    assert sum(o.counts["done"] for o in runner.outcomes) == 120
    summary = store.experiments.summary(experiment.id)
    assert (summary.completed, summary.failed) == (108, 12)
    if db_kind == "postgresql":  # the shards wrote straight to the store
        assert runner.progress.written == 0
    else:  # every result came through the driver's writer
        assert runner.progress.written == 120


def test_a_run_the_driver_plans_writes_each_result_once_and_lists_the_rest_as_pending(
    cluster: LocalCluster, store: Store, settings: Settings, tmp_path: Any
) -> None:
    """No pending row is written with the plan: while the run holds still (30 results stored,
    every shard waiting on the gate) the store has those 30 rows alone, and the counts, the
    summary and the listings in plan order show the other 90 as pending, made from the plan."""
    gate = tmp_path / "gate"
    runner = _prepared(
        store, settings, functools.partial(shout_past_gate, str(gate), 30), 120, shards=2,
        concurrency=1,
    )  # fmt: skip
    prepared = runner.prepared  # type: ignore[attr-defined]
    experiment_id = prepared.experiment.id
    planned = [(w.result_id, w.input) for w in prepared.work]
    seen: dict[str, Any] = {}

    def look_then_open() -> None:
        try:
            deadline = time.monotonic() + KILL_WITHIN
            while len(_rows(store, experiment_id)) < 30 and time.monotonic() < deadline:
                time.sleep(0.05)
            seen["rows"] = _rows(store, experiment_id)
            seen["unwritten_base"] = _unwritten_base(store, experiment_id)
            seen["counts"] = store.experiments.counts([experiment_id])[experiment_id]
            seen["summary"] = store.experiments.summary(experiment_id)
            seen["listed"] = store.experiments.results(experiment_id, limit=120)
            seen["table"] = store.experiments.result_table(experiment_id, limit=120)
            seen["rows_after"] = _rows(store, experiment_id)
        finally:
            gate.touch()

    looker = threading.Thread(target=look_then_open, daemon=True)
    looker.start()
    experiment = _run(runner)
    looker.join(timeout=30)
    assert seen["rows"] == seen["rows_after"], "the run did not hold still"
    ids = [rid for rid, _ in planned]
    assert [rid for rid, _ in seen["rows"]] == ids[:30]  # rows for the finished results only
    assert {status for _, status in seen["rows"]} == {"completed", "failed"}
    assert seen["unwritten_base"] == ids[0]
    assert seen["counts"] == {"completed": 27, "failed": 3, "pending": 90}
    assert (seen["summary"].total, seen["summary"].pending) == (120, 90)
    listed = seen["listed"]
    assert listed.total == 120
    assert [(r.id, r.input) for r in listed.results] == planned
    assert [r.status.value for r in listed.results[30:]] == ["pending"] * 90
    table = [(r.id, r.status.value) for r in seen["table"].results]
    assert table == [(r.id, r.status.value) for r in listed.results]
    assert experiment.status == ExperimentStatus.completed
    rows = _rows(store, experiment_id)
    assert [rid for rid, _ in rows] == ids  # each planned result once, under its planned id
    assert {status for _, status in rows} == {"completed", "failed"}
    assert _unwritten_base(store, experiment_id) is None
    assert len(_stored(store, experiment_id)) == 120


def test_killed_node_loses_and_repeats_nothing(
    cluster: LocalCluster, store: Store, settings: Settings, tmp_path: Any
) -> None:
    worker_node = cluster.node_id(-1)
    log = tmp_path / "calls"  # every finished call, from any node: (node, result id)
    task = functools.partial(shout_until_killed, worker_node, str(log))
    runner = _prepared(store, settings, task, 160, trials=2, shards=16, concurrency=1)
    experiment_id = runner.prepared.experiment.id  # type: ignore[attr-defined]
    killed, ended = threading.Event(), threading.Event()
    failures: list[str] = []

    def stuck_after_storing() -> bool:
        """Whether a shard on the worker node stored its first results and is stuck in its
        next call (stuck until the node dies: it cannot end before the kill)."""
        doomed = {result for node, result in finished_calls(log) if node == worker_node}
        if len(doomed) < DOOMED_CALLS:
            return False
        return finished_ids(store.db, experiment_id, sorted(doomed)) == doomed

    def kill_mid_shard() -> None:
        deadline = time.monotonic() + KILL_WITHIN
        while not ended.is_set() and time.monotonic() < deadline:
            if stuck_after_storing():
                killed.set()
                if cluster.kill_node(-1) > 0:  # the worker node: its raylet and workers
                    return
                failures.append("no process of the worker node was left to kill")
                break
            time.sleep(0.05)
        else:
            seen = sum(1 for node, _ in finished_calls(log) if node == worker_node)
            failures.append(
                f"the worker node was not killed: {seen} calls finished there "
                + ("before the run ended" if ended.is_set() else f"within {KILL_WITHIN:g} s")
                + f" (it is killed once {DOOMED_CALLS} are stored)"
            )
        runner.cancel(force=True, reason="the test could not kill the worker node")

    killer = threading.Thread(target=kill_mid_shard, daemon=True)
    killer.start()
    try:
        experiment = _run(runner)
    finally:
        ended.set()
        killer.join(timeout=30)
        if killed.is_set():
            cluster.add_node()  # the next tests get their two nodes back
        if failures:
            pytest.fail(failures[0])
    assert experiment.status == ExperimentStatus.completed
    rows = _stored(store, experiment_id)
    assert len(rows) == 320
    assert len({(row[0], row[1]) for row in rows}) == 320  # each item and repetition once
    assert all(row[2] == "completed" for row in rows)
    assert all(len(row[5]) == 2 for row in rows)  # each scorer once per result
    assert runner.attempts == 17  # the shard on the killed node ran again, once
    # Its second attempt skipped the results its first had stored and ran only the rest.
    assert [o.skipped for o in runner.outcomes if o.skipped] == [DOOMED_CALLS]
    calls = [result for _, result in finished_calls(log)]
    assert len(calls) == len(set(calls)) == 320  # no call finished twice
    traces = {r.trace_id for r in store.experiments.iter_results(experiment_id)}
    assert len(traces) == 320


def test_cancel_stops_every_shard(cluster: LocalCluster, store: Store, settings: Settings) -> None:
    runner = _prepared(store, settings, hang, 40, shards=2, concurrency=4)
    experiment_id = runner.prepared.experiment.id  # type: ignore[attr-defined]

    def cancel_when_running() -> None:
        while runner.progress.total == 0 or runner.attempts < 2:
            time.sleep(0.05)
        time.sleep(0.5)
        store.experiments.request_cancel(experiment_id)

    canceller = threading.Thread(target=cancel_when_running, daemon=True)
    canceller.start()
    experiment = _run(runner)
    canceller.join(timeout=30)
    assert experiment.status == ExperimentStatus.cancelled
    # Every shard ended on the signal (none had to be cancelled by Ray), nothing completed.
    assert sorted(o.index for o in runner.outcomes) == [0, 1]
    assert {o.stop_reason for o in runner.outcomes} == {"cancelled by request"}
    assert store.experiments.summary(experiment_id).completed == 0
    # Ending wrote the planned results that had no row, as cancelled.
    assert [status for _, status in _rows(store, experiment_id)] == ["cancelled"] * 40
    assert _unwritten_base(store, experiment_id) is None


def test_rate_limit_holds_across_shards(
    cluster: LocalCluster, store: Store, settings: Settings
) -> None:
    rpm = 12
    with FakeProvider() as fake:
        target = {"type": "http", "url": f"{fake.url}/echo", "body": {"q": "{{ input }}"}}
        name = f"ds-{time.monotonic_ns()}"
        store.datasets.create(DatasetCreate(name=name))
        store.datasets.add_items(name, [ItemCreate(**row) for row in _data(40)])
        prepared = prepare(
            store,
            as_target(target, store, settings),
            [],
            RunOptions(rpm=rpm, concurrency=4),
            dataset=name,
        )
        runner = on_ray(prepared, shards=4).runner
        assert isinstance(runner, RayRunner)

        def stop_after_window_fills() -> None:
            while len(fake.requests) < rpm:
                time.sleep(0.05)
            time.sleep(2.0)  # four shards, each free to send 12 more were the limit per shard
            runner.cancel(force=True, reason="test over")

        stopper = threading.Thread(target=stop_after_window_fills, daemon=True)
        stopper.start()
        asyncio.run(prepared.run())
        stopper.join(timeout=30)
    times = sorted(r.at for r in fake.requests)
    assert len(times) >= rpm  # the window filled
    for i, start in enumerate(times):  # no 60-second window holds more than rpm requests
        assert sum(1 for t in times[i:] if t - start < 60) <= rpm
    assert runner.attempts == 4


_DRIVER = """
import sys
import assay
from assay.config import Settings
from assay.scorers import exact_match
from tests.fakes.ray_tasks import length_ratio, slow_shout
data = [{"input": f"item {i}", "expected_output": f"ITEM {i}"} for i in range(300)]
settings = Settings(home=sys.argv[1], database_url=sys.argv[2], project=sys.argv[3])
assay.evaluate(data, slow_shout, [exact_match(), length_ratio()], settings=settings,
               executor="ray", ray_address=sys.argv[4], concurrency=1, name="crashing driver")
"""


def test_resume_after_the_driver_dies(
    cluster: LocalCluster, store: Store, settings: Settings, tmp_path: Any
) -> None:
    import os
    import signal
    import subprocess
    import sys

    from assay.store import get_project
    from tests.fakes.ray_cluster import ROOT

    project = get_project(store.db, store.project_id).name
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    url = settings.database_url or ""
    driver = subprocess.Popen(
        [sys.executable, "-c", _DRIVER, str(tmp_path / "h"), url, project, cluster.address],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        found: list[Any] = []
        while not found or store.experiments.summary(found[0].id).completed < 40:
            assert driver.poll() is None, "the driver ended before it was killed"
            found = store.experiments.list(search="crashing driver").items
            time.sleep(0.1)
        driver.send_signal(signal.SIGKILL)
    finally:
        driver.wait(timeout=60)
    experiment_id = found[0].id
    # The dead driver's shards end soon after it (on PostgreSQL they write until they do).
    rows = _rows(store, experiment_id)
    for _ in range(60):
        time.sleep(0.5)
        rows, last = _rows(store, experiment_id), rows
        if rows == last:
            break
    before = store.experiments.summary(experiment_id).completed
    assert 0 < before < 300
    # Rows were written for the finished results alone; the others read as pending.
    assert len(rows) == before
    assert {status for _, status in rows} == {"completed"}
    assert _unwritten_base(store, experiment_id) is not None
    assert store.experiments.summary(experiment_id).pending == 300 - before
    listed = store.experiments.results(experiment_id, limit=300).results
    assert sum(r.status.value == "pending" for r in listed) == 300 - before
    resumed = assay.evaluate(
        None,
        slow_shout,
        [exact_match(), length_ratio()],
        resume=experiment_id,
        executor="ray",
        ray_address=cluster.address,
        store=store,
        settings=settings,
        concurrency=10,
        quiet=True,
    )
    assert resumed.status == "completed"
    assert [rid for rid, _ in _rows(store, experiment_id)] == [r.id for r in listed]
    assert _unwritten_base(store, experiment_id) is None
    rows = _stored(store, experiment_id)
    assert len(rows) == 300
    assert all(row[2] == "completed" and len(row[5]) == 2 for row in rows)


def test_another_cluster_address_is_refused(
    cluster: LocalCluster, store: Store, settings: Settings
) -> None:
    from assay.errors import InvalidInput
    from tests.fakes.ray_cluster import free_ports

    before = store.experiments.list().total
    elsewhere = f"127.0.0.1:{free_ports(1)[0]}"
    with pytest.raises(InvalidInput, match="already connected to the Ray cluster") as caught:
        assay.evaluate(
            _data(3),
            shout,
            [],
            executor="ray",
            ray_address=elsewhere,
            store=store,
            settings=settings,
            quiet=True,
        )
    assert caught.value.field == "ray_address"
    assert elsewhere in str(caught.value)
    assert store.experiments.list().total == before  # refused before anything was stored
    # The address this process is connected to, however it is spelled, is accepted.
    port = cluster.address.rpartition(":")[2]
    same = assay.evaluate(
        _data(3),
        shout,
        [],
        executor="ray",
        ray_address=f"localhost:{port}",
        store=store,
        settings=settings,
        quiet=True,
    )
    assert same.status == "completed"


def test_server_worker_runs_experiments_on_the_cluster(
    cluster: LocalCluster, db_url: str, tmp_path: Any
) -> None:
    """``assay serve`` with ``ASSAY_RAY_ADDRESS``: an experiment created and started through
    the API runs as shards on the cluster, its counts grow in the API while it runs, and each
    result is stored once."""
    import os
    import uuid

    import httpx
    import ray

    from assay.client import Assay
    from tests.e2e.test_serve import start
    from tests.fakes.ray_cluster import ROOT

    n = 120
    env = {
        **os.environ,
        "ASSAY_HOME": str(tmp_path / "home"),
        "ASSAY_AUTH": "none",
        "ASSAY_DATABASE_URL": db_url,
        "ASSAY_PROJECT": f"ray-{uuid.uuid4().hex[:10]}",
        "ASSAY_RAY_ADDRESS": cluster.address,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
    }
    with FakeProvider(delay=0.1) as fake:
        proc, base = start(env)
        try:
            headers = {"X-Assay-Client": "test"}
            with httpx.Client(base_url=f"{base}/api/v1", timeout=30, headers=headers) as http:
                with Assay(base_url=base, max_retries=0) as client:
                    client.datasets.create("qa")
                    client.datasets.create_items(
                        "qa", [{"input": {"q": f"question {i}"}} for i in range(n)]
                    )
                prompt = {"name": "p", "template": "{{ input.q }}"}
                assert http.post("/prompts/", json=prompt).status_code == 201
                body = {
                    "name": "on the cluster",
                    "dataset_id": "qa",
                    "concurrency": 2,
                    "config": {"prompt_name": "p", "model": "m", "base_url": fake.openai_url},
                }
                run = http.post("/experiments/", json=body).json()
                assert http.post(f"/experiments/{run['id']}/start/").status_code == 200
                seen: list[tuple[str, int]] = []
                deadline = time.monotonic() + 240
                while time.monotonic() < deadline:
                    got = http.get(f"/experiments/{run['id']}/", params={"runs_limit": 0})
                    detail = got.json()
                    seen.append((detail["status"], detail["summary"]["completed"]))
                    if detail["status"] not in ("pending", "running", "scoring"):
                        break
                    time.sleep(0.05)
                # The server's process joined the cluster as a driver (Ray's job table).
                drivers = {job["DriverPid"] for job in ray._private.state.jobs()}
            assert proc.pid in {int(pid) for pid in drivers}
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert seen[-1] == ("completed", n), seen[-5:]
    assert detail["summary"]["total"] == n  # one result per item: none stored twice
    assert any(status == "running" and 0 < done < n for status, done in seen)  # progress
    asked = [r.body["messages"][-1]["content"] for r in fake.requests]
    assert sorted(asked) == sorted(f"question {i}" for i in range(n))  # each asked once
