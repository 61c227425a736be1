"""A real local Ray cluster of separate processes: a head node and worker nodes on 127.0.0.1.

Every port is chosen free, the session lives under a temporary directory of its own, and
``stop()`` kills only this cluster's processes (found by their process ids, with their
children), so clusters of parallel test processes never meet.

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
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import psutil

ROOT = Path(__file__).resolve().parents[2]
# Fast failure detection: a killed node is declared dead in about two seconds.
SYSTEM_CONFIG = '{"health_check_period_ms":500,"health_check_failure_threshold":3}'


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
    pids: set[int] = field(default_factory=set)


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
        self.address = ""
        self.env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
            "RAY_USAGE_STATS_ENABLED": "0",
            **(env or {}),
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

    def _before(self) -> set[int]:
        return {p.pid for p in psutil.process_iter()}

    def _spawned(self, before: set[int], marker: str) -> set[int]:
        """Processes started since ``before`` whose command line names ``marker``."""
        found: set[int] = set()
        for proc in psutil.process_iter(["pid", "cmdline"]):
            if proc.info["pid"] in before:
                continue
            cmd = " ".join(proc.info["cmdline"] or [])
            if marker in cmd:
                found.add(proc.info["pid"])
        return found

    def _run(self, args: list[str]) -> None:
        subprocess.run(
            [_ray_bin(), "start", *args],
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
        )

    def start(self) -> None:
        (port,) = free_ports(1, self._ports)
        args, nm = self._node_args(self.head_cpus)
        before = self._before()
        self._run(
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
        head = Node(nm, self._spawned(before, str(self.temp)) | self._spawned(before, str(port)))
        self.nodes.append(head)
        for _ in range(self.workers):
            self.add_node()

    def add_node(self) -> Node:
        args, nm = self._node_args(self.cpus)
        before = self._before()
        self._run([f"--address={self.address}", *args])
        node = Node(
            nm,
            self._spawned(before, f"node_manager_port={nm}")
            | self._spawned(before, f"node-manager-port={nm}"),
        )
        node.pids |= self._spawned(before, self.address)
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
        """Every live process of the cluster (daemons and workers)."""
        return self._tree({pid for node in self.nodes for pid in node.pids})

    def _tree(self, pids: set[int]) -> list[psutil.Process]:
        procs: dict[int, psutil.Process] = {}
        for pid in pids:
            try:
                proc = psutil.Process(pid)
            except psutil.NoSuchProcess:
                continue
            procs[pid] = proc
            try:
                for child in proc.children(recursive=True):
                    procs[child.pid] = child
            except psutil.NoSuchProcess:
                pass
        return list(procs.values())

    def kill_node(self, index: int) -> int:
        """SIGKILL a node's raylet and every process under it (the node leaves ``nodes``);
        returns how many processes were killed."""
        node = self.nodes.pop(index)
        procs = self._tree(node.pids)
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGKILL)
        return len(procs)

    def stop(self) -> None:
        procs = self._tree({pid for node in self.nodes for pid in node.pids})
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.terminate()
        _, alive = psutil.wait_procs(procs, timeout=5)
        for proc in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(alive, timeout=5)
        self.nodes.clear()
        shutil.rmtree(self.temp, ignore_errors=True)
