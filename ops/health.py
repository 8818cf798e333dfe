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

import socket
import urllib.request

import click

from adapters import connections
from adapters.settings import Settings
from adapters.stream_partitions import StreamLayout

TIMEOUT_SECONDS = 3.0


def check_api(settings: Settings, host: str = "127.0.0.1") -> str:
    with urllib.request.urlopen(
        f"http://{host}:{settings.port}/healthz", timeout=TIMEOUT_SECONDS
    ) as response:
        if response.status != 200:
            raise RuntimeError(f"/healthz answered {response.status}")
    return "api: /healthz ok"


def check_worker(settings: Settings, max_idle_seconds: float, client=None) -> str:
    client = client or connections.redis_client(settings, connections.COMMAND)
    prefix = f"{socket.gethostname()}-"
    first = StreamLayout.of(settings).name(settings.installs_stream, 0)  # every worker reads it
    consumers = client.xinfo_consumers(first, settings.consumer_group)
    consumers = [{_text(key): value for key, value in c.items()} for c in consumers]
    mine = [c for c in consumers if _text(c["name"]).startswith(prefix)]
    if not mine:
        raise RuntimeError(f"no consumer {prefix}* in group {settings.consumer_group}")
    freshest = min(mine, key=lambda c: int(c["idle"]))
    idle = int(freshest["idle"]) / 1000
    name = _text(freshest["name"])
    if idle > max_idle_seconds:
        raise RuntimeError(f"consumer {name} idle for {idle:.0f} s")
    return f"worker: consumer {name} read {idle:.1f} s ago"


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def check_rq(settings: Settings, client=None) -> str:
    from rq import Worker

    from adapters.jobs import batch_queue

    client = client or connections.rq_connection(settings, connections.COMMAND)
    hostname = socket.gethostname()
    workers = Worker.all(queue=batch_queue(client, settings.rq_queue))
    mine = [w for w in workers if w.hostname == hostname]
    if not mine:
        raise RuntimeError(f"no rq worker of {hostname} on queue {settings.rq_queue}")
    return f"rq: worker {mine[0].name} ({mine[0].get_state()})"


def check(service: str, max_idle_seconds: float, settings: Settings | None = None) -> int:
    """Print whether `service` is healthy, in one line; returns the exit status (0 healthy)."""
    settings = settings or Settings()
    try:
        if service == "api":
            message = check_api(settings)
        elif service == "worker":
            message = check_worker(settings, max_idle_seconds)
        else:
            message = check_rq(settings)
    except Exception as error:  # any failure is "unhealthy", said in one line
        print(f"{service} unhealthy: {type(error).__name__}: {error}")
        return 1
    print(message)
    return 0


@click.command("health")
@click.argument("service", type=click.Choice(["api", "worker", "rq"]))
@click.option(
    "--max-idle",
    type=float,
    default=60.0,
    show_default=True,
    help="worker: longest time, in seconds, since the consumer's last read.",
)
def command(service: str, max_idle: float) -> None:
    """Container health check of SERVICE (exit status 0: healthy)."""
    raise SystemExit(check(service, max_idle))
