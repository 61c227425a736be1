"""The local Ray cluster the Ray tests run on: ``stop()`` and ``kill_node()`` end every process
the cluster started (the daemons ``ray start`` leaves behind included), and only those."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys

import psutil
import pytest

from assay.config import Settings
from assay.domain import ExperimentStatus
from assay.store import Store
from tests.fakes.ray_cluster import MARK, LocalCluster
from tests.fakes.ray_tasks import shout
from tests.integration.test_ray_executor import _prepared, _run

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    """The processes of ``procs`` still running (a zombie has ended: nothing may reap it)."""
    alive = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.NoSuchProcess:
            pass
    return alive


def _marked(cluster: LocalCluster) -> set[int]:
    """Every live process whose environment carries the cluster's mark: whatever ``ray start``
    started, found without the sessions ``LocalCluster`` tracks its nodes by."""
    found = set()
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(MARK) == str(cluster.temp) and _alive([proc]):
                found.add(proc.pid)
        except psutil.Error:
            pass
    return found


def _commands(procs: list[psutil.Process]) -> list[str]:
    commands = []
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            commands.append(" ".join(proc.cmdline()))
    return commands


def test_stop_ends_every_process_the_cluster_started() -> None:
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    cluster = LocalCluster(workers=1)
    try:
        cluster.start()
        ray.init(address=cluster.address, log_to_driver=False, logging_level="WARNING")
        # A task on each node, so that each node's raylet has started a worker process.
        pid = ray.remote(lambda: os.getpid())
        workers = ray.get(
            [
                pid.options(
                    scheduling_strategy=NodeAffinitySchedulingStrategy(cluster.node_id(i), False)
                ).remote()
                for i in range(2)
            ]
        )
        started = cluster.processes()
        commands = _commands(started)
        # Each node's log monitor: a daemon outside its raylet's process tree.
        assert sum("ray/_private/log_monitor.py" in c for c in commands) == 2
        assert sum("/raylet/raylet " in c for c in commands) == 2
        assert sum("/gcs/gcs_server " in c for c in commands) == 1
        assert set(workers) <= {p.pid for p in started}
        assert _marked(cluster) <= {p.pid for p in started}  # nothing escapes the sessions
    finally:
        ray.shutdown()
        cluster.stop()
    assert _alive(started) == []
    assert _marked(cluster) == set()
    assert not cluster.temp.exists()


def test_kill_node_ends_that_node_only() -> None:
    with LocalCluster(workers=1) as cluster:
        head, worker = ({p.pid: p for p in cluster._members({n.session})} for n in cluster.nodes)
        assert head.keys().isdisjoint(worker.keys())
        assert any("log_monitor.py" in c for c in _commands(list(worker.values())))
        assert cluster.kill_node(-1) == len(worker)
        assert _alive(list(worker.values())) == []
        assert len(_alive(list(head.values()))) == len(head)
        assert [n.session for n in cluster.nodes] == [cluster.nodes[0].session]
    assert _alive(list(head.values())) == []


def test_stop_ends_a_process_that_left_the_cluster_sessions() -> None:
    """A process of the cluster that started a session of its own is still found by the
    cluster's mark, and ended."""
    cluster = LocalCluster(workers=0)
    escaped = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"],
        env=cluster.env,
        start_new_session=True,
    )
    try:
        assert [p.pid for p in cluster.leftovers()] == [escaped.pid]
        cluster.stop()
        assert escaped.wait(timeout=5) == -signal.SIGTERM
    finally:
        if escaped.poll() is None:
            escaped.kill()
            escaped.wait()
    assert cluster.leftovers() == []


def test_a_driver_process_that_joins_another_cluster_runs_there(
    store: Store, settings: Settings
) -> None:
    """A driver process keeps its hub actor for its runs; joined to a new cluster after the
    first one stopped (the same job id there), its run gets a hub of the new cluster."""
    import ray

    for _ in range(2):
        with LocalCluster(workers=0, head_cpus=1) as cluster:
            ray.init(address=cluster.address, log_to_driver=False, logging_level="WARNING")
            try:
                run = _run(_prepared(store, settings, shout, 4, shards=2))
                assert run.status is ExperimentStatus.completed
                assert store.experiments.summary(run.id).completed == 4
            finally:
                ray.shutdown()
