"""A local Redis Cluster for the tests: 3 masters and 3 replicas (`redis-server
--cluster-enabled yes` on private ports in a temporary directory, joined by `redis-cli
--cluster create`), ready once every node says `cluster_state:ok` and every replica is in sync;
a master can be killed to make its replica take over."""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

NODE_TIMEOUT_MS = 1000
"""cluster-node-timeout: how long a master may be silent before its replica takes over."""
READY_SECONDS = 30.0


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """`count` consecutive free ports whose cluster bus ports (+10000) are free too."""
    for _ in range(200):
        base = random.randrange(20000, 30000 - count)
        ports = list(range(base, base + count))
        if all(_free(port) and _free(port + 10000) for port in ports):
            return ports
    raise RuntimeError("no free ports for a local Redis Cluster")


class LocalRedisCluster:
    """Six redis-server processes forming one cluster; `stop` ends them and removes the files."""

    def __init__(self, directory: Path, masters: int = 3, replicas: int = 1):
        if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
            raise FileNotFoundError("redis-server and redis-cli are needed for a local cluster")
        self.directory = Path(directory)
        self.masters, self.replicas = masters, replicas
        self.ports = free_ports(masters * (1 + replicas))
        self.processes: dict[int, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        """REDIS_URL of one node (the cluster client finds the others)."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> LocalRedisCluster:
        for port in self.ports:
            self._start_node(port)
        for port in self.ports:
            self._wait(lambda port=port: self.ask(port, "PING"), f"node {port} answers")
        subprocess.run(
            ["redis-cli", "--cluster", "create"]
            + [f"127.0.0.1:{port}" for port in self.ports]
            + ["--cluster-replicas", str(self.replicas), "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        self.wait_ready()
        return self

    def _start_node(self, port: int) -> None:
        home = self.directory / str(port)
        home.mkdir(parents=True, exist_ok=True)
        self.processes[port] = subprocess.Popen(
            ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
            + ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf"]
            + ["--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--dir", str(home)]
            + ["--save", "", "--appendonly", "no", "--logfile", str(home / "redis.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def ask(self, port: int, *command, decode: bool = True):
        """One command to one node, on a connection closed after it."""
        with redis.Redis(
            port=port, socket_timeout=2, socket_connect_timeout=2, decode_responses=decode
        ) as node:
            return node.execute_command(*command)

    def live_ports(self) -> list[int]:
        return [port for port, process in self.processes.items() if process.poll() is None]

    def wait_ready(self) -> None:
        """Until every live node sees the cluster ok, every live replica is in sync, and every
        master streams its writes to its replicas: after a full sync a master holds its writes
        back until the replica's first acknowledgement (up to a second later), and a failover
        before that would lose them all."""

        def ready() -> bool:
            for port in self.live_ports():
                if "cluster_state:ok" not in self.ask(port, "CLUSTER", "INFO"):
                    return False
                replication = self.ask(port, "INFO", "replication")  # parsed: a dict
                if replication["role"] == "slave" and replication["master_link_status"] != "up":
                    return False
                replicas = replication.get("connected_slaves", 0)
                if replication["role"] == "master" and replicas:  # have they acknowledged?
                    streaming = self.ask(port, "WAIT", replicas, 1000) >= replicas
                    if not streaming:
                        return False
            return True

        self._wait(ready, "cluster_state:ok")

    def kill(self, port: int) -> None:
        """SIGKILL one node (its replica, if it was a master, takes over after NODE_TIMEOUT_MS)."""
        process = self.processes[port]
        process.kill()
        process.wait(timeout=10)

    def restart(self, port: int) -> None:
        """Start a killed node again; it rejoins (a former master, as its successor's replica)
        and this returns once it is in sync."""
        self._start_node(port)
        self.wait_ready()

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)

    def _wait(self, condition, what: str) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while True:
            try:
                if condition():
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"local Redis Cluster: timed out waiting for {what}")
            time.sleep(0.1)
