"""`python -m api` (also `d7-api`): serve the API under gunicorn (see `api.server` for how it is
sized). Thin: parse the options, prepare the environment, start the server."""

from __future__ import annotations

import logging

import click

from adapters.settings import Settings
from api import server


@click.command()
@click.option("--host", help="Address to listen on (default: HOST, else 0.0.0.0).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port (default: PORT, else 8000).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Worker processes (default: WEB_CONCURRENCY, else one per core).",
)
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True,
              help="Request threads per worker process.")  # fmt: skip
@click.option(
    "--worker-class",
    type=click.Choice(["gthread", "sync"]),
    default="gthread",
    show_default=True,
    help="gthread keeps connections alive; sync closes each after one request.",
)
@click.option("--access-log", is_flag=True, help="Log every request.")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error", "critical"], case_sensitive=False),
    help="Least severe level logged (default: LOG_LEVEL, else info).",
)
def cli(
    host: str | None,
    port: int | None,
    workers: int | None,
    threads: int,
    worker_class: str,
    access_log: bool,
    log_level: str | None,
) -> None:
    """Serve the API under gunicorn; configured by the environment (README, Configuration)."""
    created = server.prepare_environment()  # before anything imports prometheus_client
    settings = Settings()
    log_level = (log_level or settings.log_level).lower()
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
    )
    options = server.gunicorn_options(
        bind=f"{host or settings.host}:{port or settings.port}",
        workers=workers or server.default_workers(settings),
        threads=threads,
        worker_class=worker_class,
        access_log=access_log,
        log_level=log_level,
    )
    server.ApiServer(options, created).run()
