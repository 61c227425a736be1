"""A real local Ray cluster of separate processes: a head node and worker nodes on 127.0.0.1.

Every port is chosen free, the session lives under a temporary directory of its own, and each
node's ``ray start`` runs in a process session of its own, which every process of that node
inherits (the daemons ``ray start`` leaves running, and the workers their raylet starts
later). ``kill_node()`` and ``stop()`` kill by session, so they reach every process of the
cluster and only those, and clusters of parallel test processes never meet. ``stop()`` then
checks that nothing the cluster started is alive, and raises :class:`ClusterLeftovers` if
anything is.

    with LocalCluster(workers=1) as cluster:
        evaluate(..., executor="ray", ray_address=cluster.address)
        cluster.kill_node(-1)  # SIGKILL a worker node's raylet and its worker processes
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import psutil

ROOT = Path(__file__).resolve().parents[2]
# Fast failure detection: a killed node is declared dead in about two seconds.
SYSTEM_CONFIG = '{"health_check_period_ms":500,"health_check_failure_threshold":3}'
# Set in the environment of every process of a cluster, to its directory.
MARK = "ASSAY_TEST_RAY_CLUSTER"


def free_ports(n: int, taken: set[int] | None = None) -> list[int]:
    """``n`` distinct ports free on 127.0.0.1 right now, none of them in ``taken`` (which
    grows by them: the kernel may hand a port out again once its socket is closed)."""
    taken = set() if taken is None else taken
    socks = []
    found: list[int] = []
    try:
        while len(found) < n:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            port = s.getsockname()[1]
            if port not in taken:
                found.append(port)
                taken.add(port)
        return found
    finally:
        for s in socks:
            s.close()


def _ray_bin() -> str:
    return str(Path(sys.executable).with_name("ray"))


@dataclass
class Node:
    node_manager_port: int
    session: int  # the id of the process session holding every process of the node


class LocalCluster:
    def __init__(
        self,
        *,
        workers: int = 1,
        cpus: int = 1,
        head_cpus: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.workers = workers
        self.cpus = cpus
        self.head_cpus = cpus if head_cpus is None else head_cpus
        self.temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
        self.nodes: list[Node] = []
        self._ports: set[int] = set()  # every port handed to a node of this cluster
        self._sessions: set[int] = set()  # every node's session, killed nodes' included
        self.address = ""
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
            "RAY_USAGE_STATS_ENABLED": "0",
            **(env or {}),
            MARK: str(self.temp),
        }

    def __enter__(self) -> LocalCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _node_args(self, cpus: int) -> tuple[list[str], int]:
        p = free_ports(6, self._ports)
        args = [
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={cpus}",
            f"--node-manager-port={p[0]}",
            f"--object-manager-port={p[1]}",
            f"--dashboard-agent-listen-port={p[2]}",
            f"--dashboard-agent-grpc-port={p[3]}",
            f"--runtime-env-agent-port={p[4]}",
            f"--metrics-export-port={p[5]}",
            f"--worker-port-list={','.join(str(x) for x in free_ports(12, self._ports))}",
            "--disable-usage-stats",
            "--object-store-memory=100000000",
        ]
        return args, p[0]

    def _run(self, args: list[str]) -> int:
        """``ray start`` in a session of its own; returns that session's id. Every process it
        starts (daemons that outlive it, and the workers their raylet starts later) stays in
        that session unless it leaves it, so the session finds them all."""
        proc = subprocess.Popen(
            [_ray_bin(), "start", *args],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self._sessions.add(proc.pid)  # before it ends: a failed start is cleaned up too
        try:
            _, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
        if proc.returncode:
            raise subprocess.CalledProcessError(proc.returncode, proc.args, stderr=err)
        return proc.pid

    def start(self) -> None:
        (port,) = free_ports(1, self._ports)
        args, nm = self._node_args(self.head_cpus)
        session = self._run(
            [
                "--head",
                f"--port={port}",
                "--include-dashboard=false",
                f"--temp-dir={self.temp}",
                f"--system-config={SYSTEM_CONFIG}",
                *args,
            ]
        )
        self.address = f"127.0.0.1:{port}"
        self.nodes.append(Node(nm, session))
        for _ in range(self.workers):
            self.add_node()

    def add_node(self) -> Node:
        args, nm = self._node_args(self.cpus)
        node = Node(nm, self._run([f"--address={self.address}", *args]))
        self.nodes.append(node)
        return node

    def node_id(self, index: int) -> str:
        """The Ray node id of ``nodes[index]`` (this process must have joined the cluster)."""
        import ray

        port = self.nodes[index].node_manager_port
        return next(
            str(n["NodeID"]) for n in ray.nodes() if n["Alive"] and n["NodeManagerPort"] == port
        )

    def processes(self) -> list[psutil.Process]:
        """Every live process of the cluster's nodes (daemons and workers)."""
        return self._members({node.session for node in self.nodes})

    def leftovers(self) -> list[psutil.Process]:
        """Every live process this cluster ever started, killed nodes' included: the members
        of its nodes' sessions, and any process that left them but names the cluster's
        directory on its command line or carries its mark in its environment."""
        return self._members(self._sessions, marked=True)

    def _members(self, sessions: set[int], *, marked: bool = False) -> list[psutil.Process]:
        found = []
        for proc in psutil.process_iter(["pid", "cmdline", "status"]):
            if proc.info["status"] == psutil.STATUS_ZOMBIE or proc.pid == os.getpid():
                continue
            try:
                ours = os.getsid(proc.pid) in sessions or (marked and self._marked(proc))
            except (ProcessLookupError, psutil.Error):
                continue
            if ours:
                found.append(proc)
        return found

    def _marked(self, proc: psutil.Process) -> bool:
        if f"{self.temp}{os.sep}" in " ".join(proc.info["cmdline"] or []):
            return True
        try:
            return proc.environ().get(MARK) == str(self.temp)
        except psutil.Error:
            return False

    def kill_node(self, index: int) -> int:
        """SIGKILL every process of a node: its raylet, its daemons and its workers (the node
        leaves ``nodes``); returns how many processes were killed."""
        node = self.nodes.pop(index)
        procs = self._members({node.session})
        _signal(procs, signal.SIGKILL)
        _wait_gone(procs, 10)
        return len(procs)

    def stop(self) -> None:
        """End every process the cluster started, then remove its directory. Raises
        :class:`ClusterLeftovers` naming any process still alive after SIGKILL."""
        for attempt in range(4):  # a raylet may start a worker while it is being stopped
            procs = self.leftovers()
            if not procs:
                break
            if attempt == 0:
                _signal(procs, signal.SIGTERM)
                procs = _wait_gone(procs, 5)
            _signal(procs, signal.SIGKILL)
            _wait_gone(procs, 5)
        alive = self.leftovers()
        self.nodes.clear()
        shutil.rmtree(self.temp, ignore_errors=True)
        if alive:
            raise ClusterLeftovers(alive)


class ClusterLeftovers(AssertionError):
    """Processes of a stopped cluster that are still alive."""

    def __init__(self, procs: list[psutil.Process]) -> None:
        lines = []
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                lines.append(f"{proc.pid}: {' '.join(proc.cmdline())[:200]}")
        super().__init__("processes of the stopped Ray cluster are alive:\n" + "\n".join(lines))
        self.procs = procs


def _signal(procs: list[psutil.Process], sig: int) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(sig)


def _wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Waits until every process in ``procs`` has ended (a zombie has: nothing may reap it
    when init does not), at most ``timeout`` seconds; returns those still alive."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [proc for proc in procs if _running(proc)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
