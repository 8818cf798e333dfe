"""`python -m ops health api | worker | rq`: container health checks (exit 0 = healthy).

- api: GET /healthz on PORT answers 200.
- worker, rq: the process's heartbeat file (adapters.heartbeat, in HEARTBEAT_DIR) was touched
  within `--max-age` seconds. The stream worker touches it at every turn of its loop (a read,
  empty or not, or a retry after an outage), the rq worker at each of rq's heartbeats (at
  least every worker.jobs.RQ_BEAT_SECONDS, idle or busy); a loop that hangs stops touching it.
  The check reads a local file: no server round trip, and it judges this container's process.

The check is a short-lived process run under a timeout: it imports only what it needs.
"""

from __future__ import annotations

import urllib.request

import click

from adapters.heartbeat import MAX_AGE_SECONDS, ROLES, Heartbeat
from adapters.settings import Settings

TIMEOUT_SECONDS = 3.0
SERVICES = ("api", *ROLES)


def check_api(settings: Settings, host: str = "127.0.0.1") -> str:
    with urllib.request.urlopen(
        f"http://{host}:{settings.port}/healthz", timeout=TIMEOUT_SECONDS
    ) as response:
        if response.status != 200:
            raise RuntimeError(f"/healthz answered {response.status}")
    return "api: /healthz ok"


def check_heartbeat(settings: Settings, role: str, max_age_seconds: float) -> str:
    """Healthy when `role`'s heartbeat file was touched within `max_age_seconds`."""
    heartbeat = Heartbeat.of(settings, role)
    try:
        age = heartbeat.age()
    except FileNotFoundError:
        raise RuntimeError(f"no heartbeat yet ({heartbeat.path} does not exist)") from None
    if age > max_age_seconds:
        raise RuntimeError(f"last heartbeat {age:.0f} s ago (limit {max_age_seconds:g} s)")
    return f"{role}: last heartbeat {age:.1f} s ago"


def check(service: str, max_age_seconds: float, settings: Settings | None = None) -> int:
    """Print whether `service` is healthy, in one line; returns the exit status (0 healthy)."""
    settings = settings or Settings()
    try:
        if service == "api":
            message = check_api(settings)
        else:
            message = check_heartbeat(settings, service, max_age_seconds)
    except Exception as error:  # any failure is "unhealthy", said in one line
        print(f"{service} unhealthy: {type(error).__name__}: {error}")
        return 1
    print(message)
    return 0


@click.command("health")
@click.argument("service", type=click.Choice(SERVICES))
@click.option(
    "--max-age",
    type=float,
    default=MAX_AGE_SECONDS,
    show_default=True,
    help="worker, rq: oldest heartbeat, in seconds, that still counts as alive.",
)
def command(service: str, max_age: float) -> None:
    """Container health check of SERVICE (exit status 0: healthy)."""
    raise SystemExit(check(service, max_age))
