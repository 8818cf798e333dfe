"""Load tools for bench/api_bench.py: the server under test, single requests, and wrk runs
(closed-loop throughput; open-loop constant rate with bench/wrk/constant_rate.lua)."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager, suppress
from pathlib import Path

from scorer.synth import synthetic_records

ROOT = Path(__file__).resolve().parent.parent
WRK_DIR = Path(__file__).resolve().parent / "wrk"


def bodies_file(directory: Path, count: int = 500) -> Path:
    """Synthetic single-record bodies; one in five at the install stage (no event counts)."""
    frame = synthetic_records(count, seed=11, with_revenue=False)
    lines = []
    for index, row in enumerate(frame.to_dict("records")):
        record = {k: (None if v != v else v) for k, v in row.items()}  # NaN -> null
        if index % 5 == 0:
            record.update(event_1=None, event_2=None, event_3=None)
        lines.append(json.dumps(record))
    path = directory / "bodies.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def request(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, float]:
    """One request on a new connection: (status, seconds)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    started = time.perf_counter()
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    response.read()
    seconds = time.perf_counter() - started
    connection.close()
    return response.status, seconds


def workers_ready(port: int) -> int:
    """How many server processes report themselves ready (api_workers_ready in /metrics)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    connection.close()
    found = re.search(r"^api_workers_ready (\S+)$", text, re.MULTILINE)
    return int(float(found.group(1))) if found else 0


def port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def cpu_layout(layout: str) -> tuple[set[int] | None, set[int] | None]:
    """The CPUs of the server and of the load generator (None: every CPU).

    "split" gives the server the first half of this process's CPUs and the load generator (and,
    with `redis_on`, Redis) the rest, as if they ran on other machines: then the client's own
    work (wrk's scripting, heavier at a paced rate than in a closed loop) and Redis's do not
    take CPU from the server being measured. "shared" runs everything on every CPU.
    """
    cpus = sorted(os.sched_getaffinity(0))
    if layout == "shared" or len(cpus) < 2:
        return None, None
    half = len(cpus) // 2
    return set(cpus[:half]), set(cpus[half:])


def local_redis_threads(client) -> list[int]:
    """The thread ids of the Redis server when it runs on this machine (empty otherwise)."""
    host = client.connection_pool.connection_kwargs.get("host")
    pid = client.info("server").get("process_id")
    tasks = Path(f"/proc/{pid}/task")
    if host not in ("127.0.0.1", "localhost", "::1") or not pid or not tasks.is_dir():
        return []
    return [int(task.name) for task in tasks.iterdir()]


@contextmanager
def redis_on(client, cpus: set[int] | None):
    """Run the block with the machine's Redis on `cpus`, then give it back its CPUs.

    Yields whether Redis was moved: not when `cpus` is None, Redis is elsewhere, or this
    process may not change its affinity.
    """
    moved: dict[int, set[int]] = {}
    try:
        for thread in local_redis_threads(client) if cpus is not None else []:
            try:
                before = os.sched_getaffinity(thread)
                os.sched_setaffinity(thread, cpus)
            except OSError:
                continue
            moved[thread] = before
        yield bool(moved)
    finally:
        for thread, before in moved.items():
            with suppress(OSError):  # the thread has ended
                os.sched_setaffinity(thread, before)


def on_cpus(cpus: set[int] | None):
    """A Popen preexec_fn that pins the child to `cpus` (None: no pinning)."""
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def default_workers(cpus: set[int] | None) -> int:
    """The worker count `python -m api` picks when started on `cpus`."""
    code = "from api.server import default_workers as d; print(d())"
    output = subprocess.check_output(
        [sys.executable, "-c", code], cwd=ROOT, text=True, preexec_fn=on_cpus(cpus)
    )
    return int(output)


def start_server(
    port: int,
    workers: int,
    threads: int,
    env: dict,
    extra: tuple[str, ...] = (),
    cpus: set[int] | None = None,
) -> tuple[subprocess.Popen, float]:
    """Start `python -m api` (on `cpus` when given); returns once every worker process is ready,
    with the seconds."""
    if port_in_use(port):
        raise SystemExit(f"port {port} is already in use: pick another with --port")
    command = [
        sys.executable,
        "-m",
        "api",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--log-level",
        "warning",
        *extra,
    ]
    started = time.perf_counter()
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, start_new_session=True, preexec_fn=on_cpus(cpus)
    )
    try:
        while time.perf_counter() < started + 120:
            if server.poll() is not None:
                raise SystemExit(f"server exited with {server.returncode}")
            try:
                if workers_ready(port) == workers:
                    return server, time.perf_counter() - started
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit("server workers not all ready within 120 s")
    except BaseException:
        stop_server(server)
        raise


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
    server.wait(timeout=60)


def wrk(args: list[str]) -> str:
    result = subprocess.run(["wrk", *args], capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise SystemExit(f"wrk failed: {result.stderr or result.stdout}")
    return result.stdout


def cpu_seconds(root_pid: int) -> float:
    """User + system CPU seconds used so far by a process and its children (the server)."""
    pids = [root_pid]
    children = subprocess.run(["pgrep", "-P", str(root_pid)], capture_output=True, text=True)
    pids += [int(pid) for pid in children.stdout.split()]
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def throughput(
    url: str, seconds: int, connections: int, bodies: Path | None = None, server_pid: int = 0
) -> tuple[float, float]:
    """A closed-loop wrk run (POSTs the bodies when given, else GETs): requests/s, and the
    server's CPU microseconds per request when its pid is given (less sensitive than requests/s
    to other load on a shared machine)."""
    script = ["-s", str(WRK_DIR / "post_bodies.lua")] if bodies else []
    trailing = ["--", str(bodies)] if bodies else []
    before = cpu_seconds(server_pid) if server_pid else 0.0
    out = wrk(["-t2", f"-c{connections}", f"-d{seconds}s", *script, url, *trailing])
    used = cpu_seconds(server_pid) - before if server_pid else 0.0
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if bad or errors:
        raise SystemExit(f"errors during the run of {url}:\n{out}")
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return rate, used / requests * 1e6


def constant_rate(url: str, rate: float, seconds: int, bodies: Path, connections: int) -> dict:
    warmup = 2
    script = [
        "-s",
        str(WRK_DIR / "constant_rate.lua"),
        url,
        "--",
        str(rate),
        str(connections),
        str(bodies),
        str(warmup),
    ]
    out = wrk([f"-t{connections}", f"-c{connections}", f"-d{seconds + warmup}s", *script])
    line = next(line for line in out.splitlines() if line.startswith("CONSTANT_RATE"))
    values = dict(item.split("=") for item in line.split()[1:])
    result = {key: float(value) for key, value in values.items()}
    result["achieved_rate"] = result["sent"] / seconds
    return result
