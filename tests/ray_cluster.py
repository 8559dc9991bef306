"""A two-node Ray cluster on this machine whose worker node cannot see a directory (for tests and
benchmarks): a head node with no CPU for tasks, and a worker node started in its own mount
namespace with an empty tmpfs over `hidden`, so any worker that opens a run file by path fails.

Cleanup kills only this cluster's processes, by id (`ray stop` would stop every Ray on the machine).
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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    """A running test cluster: its address, and the worker nodes (killable)."""

    address: str
    base: Path
    hidden: Path
    nodes: list[subprocess.Popen] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)  # each worker node's mount namespace

    def add_worker_node(self, cpus: int = 2) -> subprocess.Popen:
        temp = self.base / f"w{len(self.nodes)}"
        script = (f"mount -t tmpfs none {self.hidden} && exec {RAY} start --address={self.address} --num-cpus={cpus} "
                  f"--temp-dir={temp} --node-ip-address=127.0.0.1 --block --disable-usage-stats")
        node = subprocess.Popen(["unshare", "-m", "sh", "-c", script], env=ENV, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.nodes.append(node)
        wait_for(temp / "session_latest", node)
        self.namespaces.append(os.readlink(f"/proc/{node.pid}/ns/mnt"))
        time.sleep(3)  # the raylet registers with the head a moment after its session exists
        return node

    def kill_node(self, node: subprocess.Popen) -> None:
        """kill -9 a worker node: its raylet, its workers, everything under its temp dir."""
        index = self.nodes.index(node)
        kill_group(node)
        kill_in_namespace(self.namespaces[index])


def wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"ray start exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {path} after {timeout}s")
        time.sleep(0.3)


def kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def kill_in_namespace(namespace: str) -> None:
    """SIGKILL every process of a worker node's own mount namespace (its raylet and Ray workers,
    which rename themselves `ray::...`)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.readlink(entry / "ns" / "mnt") == namespace:
                    os.kill(int(entry.name), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                continue


def kill_matching(text: str) -> None:
    """SIGKILL the processes whose command line names `text` (this cluster's own temp dir)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(entry.name), signal.SIGKILL)


@contextlib.contextmanager
def two_node_cluster(hidden: Path, cpus: int = 2, nodes: int = 1) -> Iterator[Cluster]:
    """A head (0 CPUs, this mount namespace) and `nodes` worker nodes (`cpus` each, `hidden` covered)."""
    base = Path(tempfile.mkdtemp(prefix="rl", dir="/tmp"))  # short: Ray's socket paths have a length limit
    port = free_port()
    head = subprocess.Popen([RAY, "start", "--head", "--num-cpus=0", f"--temp-dir={base / 'h'}",
                             "--node-ip-address=127.0.0.1", f"--port={port}", "--include-dashboard=false",
                             "--disable-usage-stats", "--block"], env=ENV, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cluster = Cluster(f"127.0.0.1:{port}", base, hidden)
    try:
        wait_for(base / "h" / "session_latest", head)
        for _ in range(nodes):
            cluster.add_worker_node(cpus)
        yield cluster
    finally:
        for node, namespace in zip(cluster.nodes, cluster.namespaces):
            kill_group(node)
            kill_in_namespace(namespace)
        kill_group(head)
        kill_matching(str(base))
        shutil.rmtree(base, ignore_errors=True)
