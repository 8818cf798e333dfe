"""Benchmark of the API under its production server (`python -m api`, gunicorn), started here.

Prints, from one run on one machine:
- POST /predict (one record) throughput / GET /healthz throughput        (target >= 0.6)
- GET /users/<id>/prediction (cache hit) throughput / GET /healthz        (target >= 0.75)
- p99 latency of POST /predict at 70% of its measured maximum rate        (target <= 10 ms)
- first POST /predict after start / steady-state median latency           (target <= 2)

Throughput comes from wrk (closed loop, keep-alive); the constant-rate run uses wrk with
bench/wrk/constant_rate.lua, which paces requests open-loop and measures latency from each
request's intended send time (as wrk2 does). Needs `wrk` (Debian: apt-get install -y wrk) and
the machine's Redis; writes only keys under `bench:<pid>:` in the chosen Redis db and deletes them.

    .venv/bin/python bench/api_bench.py [--workers N] [--duration S] [--rounds R]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis

from scorer.synth import synthetic_records

ROOT = Path(__file__).resolve().parent.parent
WRK_DIR = Path(__file__).resolve().parent / "wrk"
USER = "bench-user"


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


def start_server(
    port: int, workers: int, threads: int, env: dict
) -> tuple[subprocess.Popen, float]:
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
    ]
    started = time.perf_counter()
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    deadline = started + 120
    while time.perf_counter() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited with {server.returncode}")
        try:
            if request(port, "GET", "/healthz")[0] == 200:
                return server, time.perf_counter() - started
        except OSError:
            time.sleep(0.05)
    server.terminate()
    raise SystemExit("server did not answer /healthz within 120 s")


def wrk(args: list[str]) -> str:
    result = subprocess.run(["wrk", *args], capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        raise SystemExit(f"wrk failed: {result.stderr or result.stdout}")
    return result.stdout


def throughput(url: str, seconds: int, connections: int, bodies: Path | None = None) -> float:
    """Requests/s of a closed-loop wrk run; POSTs the bodies when given, else GETs."""
    script = ["-s", str(WRK_DIR / "post_bodies.lua")] if bodies else []
    trailing = ["--", str(bodies)] if bodies else []
    out = wrk(["-t2", f"-c{connections}", f"-d{seconds}s", *script, url, *trailing])
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if bad or errors:
        raise SystemExit(f"errors during the run of {url}:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=None, help="default: as python -m api")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="throughput rounds (best kept)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--redis-db", type=int, default=int(os.environ.get("TEST_REDIS_DB", 15)))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")

    prefix = f"bench:{os.getpid()}:"
    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    env = {
        **os.environ,
        "REDIS_URL": redis_url,
        "SCORED_STREAM": prefix + "scored",
        "CACHE_PREFIX": prefix + "prediction:",
        "INSTALLS_STREAM": prefix + "installs",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if args.workers:
        env["WEB_CONCURRENCY"] = str(args.workers)
    client = redis.Redis.from_url(redis_url)
    cached = {
        "user_id": USER,
        "predicted_revenue": 1.5,
        "lower": 0.5,
        "upper": 3.0,
        "stage": "early_events",
        "model_version": "bench",
        "scored_at": "2024-01-01T00:00:00+00:00",
        "source": "stream",
    }
    client.set(prefix + "prediction:" + USER, json.dumps(cached))

    with tempfile.TemporaryDirectory() as tmp:
        bodies = bodies_file(Path(tmp))
        first_body = bodies.read_text().splitlines()[1].encode()
        workers = args.workers or int(
            subprocess.check_output(
                [sys.executable, "-c", "from api.server import default_workers as d; print(d())"],
                cwd=ROOT,
                text=True,
            )
        )
        server, boot = start_server(args.port, workers, args.threads, env)
        try:
            base = f"http://127.0.0.1:{args.port}"
            status, first = request(args.port, "POST", "/predict", first_body)
            assert status == 200, status
            steady = [request(args.port, "POST", "/predict", first_body)[1] for _ in range(300)]
            steady_median = statistics.median(steady[100:])

            targets = {
                "healthz": (f"{base}/healthz", None),
                "predict": (f"{base}/predict", bodies),
                "user": (f"{base}/users/{USER}/prediction", None),
            }
            runs = {name: [] for name in targets}
            for round_index in range(args.rounds):
                order = list(targets) if round_index % 2 == 0 else list(reversed(targets))
                for name in order:
                    url, post = targets[name]
                    runs[name].append(throughput(url, args.duration, args.connections, post))
            best = {name: max(values) for name, values in runs.items()}
            rate = round(0.7 * best["predict"])
            paced = constant_rate(f"{base}/predict", rate, max(args.duration, 8), bodies, 8)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
        published = client.xlen(prefix + "scored")
        for key in client.scan_iter(match=prefix + "*", count=1000):
            client.delete(key)

    print(
        f"server: python -m api, {workers} gunicorn gthread workers x {args.threads} threads; "
        f"boot to first /healthz {boot:.2f} s; wrk -t2 -c{args.connections} "
        f"-d{args.duration}s, best of {args.rounds} rounds"
    )
    for name, values in runs.items():
        print(f"  {name:8s} req/s: " + ", ".join(f"{v:8.0f}" for v in values))
    print(f"  scored-stream entries published: {published}")
    checks = [
        ("POST /predict / GET /healthz throughput", best["predict"] / best["healthz"], ">=", 0.6),
        (
            "GET /users/<id>/prediction (hit) / GET /healthz",
            best["user"] / best["healthz"],
            ">=",
            0.75,
        ),
        (
            f"p99 ms of POST /predict at {rate}/s (70% of max; achieved "
            f"{paced['achieved_rate']:.0f}/s, p50 {paced['p50_ms']:.2f} ms, errors "
            f"{paced['errors']:.0f})",
            paced["p99_ms"],
            "<=",
            10.0,
        ),
        (
            f"first POST /predict {first * 1000:.2f} ms / steady median "
            f"{steady_median * 1000:.2f} ms",
            first / steady_median,
            "<=",
            2.0,
        ),
    ]
    for label, value, op, target in checks:
        met = value >= target if op == ">=" else value <= target
        print(f"{label}: {value:.2f} (target {op} {target}) {'met' if met else 'NOT MET'}")


if __name__ == "__main__":
    main()
