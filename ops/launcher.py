"""`make run` (`python -m ops run`): the API, the stream worker and the rq worker on one machine.

REDIS_URL and DATABASE_URL are used when set. Without them the launcher starts an embedded
Redis-compatible server in its own process and keeps the predictions table in a SQLite file, so
the whole system runs with nothing else installed. Migrations are applied first either way.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import threading
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from adapters.settings import Settings
from ops.processes import ProcessSupervisor

READY_SECONDS = 180.0
"""How long the API may take to load the model, warm up and answer /readyz."""


@dataclass(frozen=True)
class Plan:
    """What the launcher starts and where it points the services."""

    redis_url: str | None  # None: start the embedded server
    database_url: str
    host: str
    port: int
    api_workers: int
    data_dir: Path

    @property
    def base_url(self) -> str:
        shown = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{shown}:{self.port}"


def plan(
    settings: Settings, data_dir: Path, host: str, port: int | None, workers: int | None
) -> Plan:
    """Decide which servers to use: those the environment names (REDIS_URL, DATABASE_URL) win;
    otherwise an embedded Redis and a SQLite file in `data_dir`."""
    from api.server import default_workers

    data_dir = data_dir.resolve()
    given = settings.model_fields_set  # set in the environment (or by the caller)
    database_url = settings.database_url if "database_url" in given else ""
    return Plan(
        redis_url=(settings.redis_url if "redis_url" in given else "") or None,
        database_url=database_url or f"sqlite:///{data_dir / 'predictions.db'}",
        host=host,
        port=port if port is not None else settings.port,
        api_workers=workers or default_workers(settings),
        data_dir=data_dir,
    )


def commands(plan_: Plan, python: str = sys.executable) -> list[tuple[str, list[str]]]:
    """(name, argv) of every service, in start (and stop) order."""
    return [
        (
            "api",
            [python, "-m", "api", "--host", plan_.host, "--port", str(plan_.port),
             "--workers", str(plan_.api_workers)],
        ),
        ("worker", [python, "-m", "worker", "run"]),
        ("rq", [python, "-m", "worker", "rq"]),
    ]  # fmt: skip


def service_env(environ: dict[str, str], plan_: Plan, redis_url: str) -> dict[str, str]:
    env = dict(environ)
    env.update(
        REDIS_URL=redis_url,
        DATABASE_URL=plan_.database_url,
        PORT=str(plan_.port),
        PYTHONUNBUFFERED="1",
    )
    return env


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host or "0.0.0.0", port))
        except OSError:
            return False
    return True


def check_redis(url: str) -> None:
    from adapters import connections

    client = connections.redis_client(Settings(redis_url=url), connections.COMMAND)
    try:
        client.ping()
    finally:
        client.close()


def ready(url: str) -> bool:
    """GET /readyz answers 200."""
    try:
        with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def wait_ready(
    url: str, services: ProcessSupervisor, stop: threading.Event, seconds: float
) -> bool:
    """Poll GET /readyz until it answers 200; False if a service died, a stop was asked for,
    or time ran out."""
    retrying = Retrying(
        retry=retry_if_result(lambda answered: not answered),
        stop=stop_after_delay(seconds)
        | (lambda _state: stop.is_set() or services.exited() is not None),
        wait=wait_fixed(0.5),
        sleep=stop.wait,
        retry_error_callback=lambda _state: False,
    )
    return retrying(ready, url)


def banner(plan_: Plan, redis_url: str, embedded: bool, settings: Settings) -> str:
    from adapters.registry import redact

    url = plan_.base_url
    redis_url = redact(redis_url)
    key = settings.api_key
    header = f" -H 'X-API-Key: {key}'" if key else ""
    record = {"user_id": "u1", "country": "us", "platform": "ios", "event_1": 2, "event_2": 5}
    model = settings.model_uri or settings.model_dir
    if embedded:
        redis_line = f"{redis_url}  (embedded, in memory: emptied when this stops)"
    else:
        redis_line = redis_url
    database = redact(plan_.database_url)
    if database.startswith("sqlite:///"):
        database = f"{database}  (SQLite file, table predictions)"
    return "\n".join(
        [
            "",
            f"D7 revenue service ready at {url}   (docs {url}/docs, model {url}/model)",
            f"  Redis     {redis_line}",
            f"  Database  {database}",
            f"  Model     {model}",
            "Try:",
            f"  curl -s -X POST {url}/predict -H 'Content-Type: application/json'{header} \\",
            f"       -d '{json.dumps(record)}'",
            f"  curl -s{header} {url}/users/u1/prediction",
            f"  REDIS_URL={redis_url} .venv/bin/python -m worker push --file data/dataset.csv --rate 100",
            "Ctrl-C stops everything.",
            "",
        ]
    )


class SetupError(RuntimeError):
    """A server given in the environment cannot be used; the message says which and why."""


def prepare_servers(plan_: Plan):
    """Start the embedded Redis unless REDIS_URL is set (else check it answers), and migrate
    the database. Returns (redis URL, the embedded server or None)."""
    import redis
    import sqlalchemy.exc

    from adapters.migrations import upgrade_database
    from adapters.registry import redact

    embedded = None
    if plan_.redis_url is None:
        from ops.embedded import EmbeddedRedis

        try:
            embedded = EmbeddedRedis().start()
        except ModuleNotFoundError as error:
            raise SetupError(
                f"the embedded Redis needs the `embedded` extra ({error}): run `make install` "
                "or set REDIS_URL"
            ) from None
    try:
        redis_url = embedded.url if embedded else plan_.redis_url
        try:
            check_redis(redis_url)
        except redis.RedisError as error:
            raise SetupError(f"REDIS_URL={redact(redis_url)} is unreachable: {error}") from None
        logging.getLogger("alembic").setLevel(logging.WARNING)
        try:
            upgrade_database(plan_.database_url)
        except sqlalchemy.exc.OperationalError as error:
            where = redact(plan_.database_url)
            raise SetupError(f"DATABASE_URL={where} is unusable: {error.orig}") from None
    except BaseException:
        if embedded is not None:
            embedded.stop()
        raise
    return redis_url, embedded


def run(
    settings: Settings, data_dir: Path, host: str, port: int | None, workers: int | None
) -> int:
    """Start everything, print where it is, and stop it all on Ctrl-C / SIGTERM / SIGHUP or
    when one service dies. Returns the exit status."""
    plan_ = plan(settings, data_dir, host, port, workers)
    plan_.data_dir.mkdir(parents=True, exist_ok=True)
    services = ProcessSupervisor()
    if not port_free(plan_.host, plan_.port):
        services.say(f"port {plan_.port} is in use: set PORT (e.g. `PORT=8001 make run`)")
        return 2
    try:
        redis_url, embedded = prepare_servers(plan_)
    except SetupError as error:
        services.say(str(error))
        return 2
    services.say("database migrated; starting the API, the stream worker and the rq worker")

    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda *_: stop.set())
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    try:
        env = service_env(dict(os.environ), plan_, redis_url)
        for name, argv in commands(plan_):
            services.start(name, argv, env)
        if wait_ready(plan_.base_url, services, stop, READY_SECONDS):
            services.say(banner(plan_, redis_url, embedded is not None, settings))
        elif not stop.is_set() and services.exited() is None:
            services.say(f"{plan_.base_url}/readyz still fails after {READY_SECONDS:.0f} s")
        return supervise(services, stop)
    finally:
        services.stop()
        if embedded is not None:
            embedded.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        services.say("stopped")


def supervise(services: ProcessSupervisor, stop: threading.Event) -> int:
    """Wait for a stop request (0) or for a service to die (1)."""
    while not stop.is_set():
        died = services.exited()
        if died is not None:
            services.say(f"{died.name} exited with status {died.process.returncode}")
            return 1
        stop.wait(0.5)
    services.say("stopping ...")
    return 0
