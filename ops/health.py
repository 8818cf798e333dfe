"""`python -m ops health api | worker | rq`: container health checks (exit 0 = healthy).

- api: GET /healthz on PORT answers 200.
- worker: a consumer of this host (named `<hostname>-<pid>`, the worker's default) has read
  from the install-events group within `--max-idle` seconds. XREADGROUP blocks for at most
  WORKER_BLOCK_MS and each call resets the consumer's idle time, so a live loop stays near
  zero; a stuck loop, or one stalled on a Redis or Postgres outage, does not.
- rq: an rq worker of this host is registered on RQ_QUEUE (rq drops the registration when its
  heartbeats stop).
"""

from __future__ import annotations

import argparse
import socket
import urllib.request

from adapters.settings import Settings

TIMEOUT_SECONDS = 3.0


def check_api(settings: Settings, host: str = "127.0.0.1") -> str:
    with urllib.request.urlopen(
        f"http://{host}:{settings.port}/healthz", timeout=TIMEOUT_SECONDS
    ) as response:
        if response.status != 200:
            raise RuntimeError(f"/healthz answered {response.status}")
    return "api: /healthz ok"


def _redis(settings: Settings):
    import redis

    return redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=TIMEOUT_SECONDS,
        socket_connect_timeout=TIMEOUT_SECONDS,
        decode_responses=True,
    )


def check_worker(settings: Settings, max_idle_seconds: float, client=None) -> str:
    client = client or _redis(settings)
    prefix = f"{socket.gethostname()}-"
    consumers = client.xinfo_consumers(settings.installs_stream, settings.consumer_group)
    mine = [c for c in consumers if str(c["name"]).startswith(prefix)]
    if not mine:
        raise RuntimeError(f"no consumer {prefix}* in group {settings.consumer_group}")
    freshest = min(mine, key=lambda c: int(c["idle"]))
    idle = int(freshest["idle"]) / 1000
    if idle > max_idle_seconds:
        raise RuntimeError(f"consumer {freshest['name']} idle for {idle:.0f} s")
    return f"worker: consumer {freshest['name']} read {idle:.1f} s ago"


def check_rq(settings: Settings, client=None) -> str:
    import redis
    from rq import Worker

    from adapters.jobs import batch_queue

    client = client or redis.Redis.from_url(
        settings.redis_url, socket_timeout=TIMEOUT_SECONDS, socket_connect_timeout=TIMEOUT_SECONDS
    )
    hostname = socket.gethostname()
    workers = Worker.all(queue=batch_queue(client, settings.rq_queue))
    mine = [w for w in workers if w.hostname == hostname]
    if not mine:
        raise RuntimeError(f"no rq worker of {hostname} on queue {settings.rq_queue}")
    return f"rq: worker {mine[0].name} ({mine[0].get_state()})"


def main(args: argparse.Namespace) -> int:
    settings = Settings()
    try:
        if args.service == "api":
            message = check_api(settings)
        elif args.service == "worker":
            message = check_worker(settings, args.max_idle)
        else:
            message = check_rq(settings)
    except Exception as error:  # any failure is "unhealthy", said in one line
        print(f"{args.service} unhealthy: {type(error).__name__}: {error}")
        return 1
    print(message)
    return 0


def add_command(commands) -> None:
    health = commands.add_parser("health", help="container health check (exit 0 = healthy)")
    health.add_argument("service", choices=("api", "worker", "rq"))
    health.add_argument(
        "--max-idle", type=float, default=60.0, help="worker: seconds since its last read"
    )
    health.set_defaults(run=main)
