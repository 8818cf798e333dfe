"""`python -m ops run | health | smoke | model` (also `d7-ops`): the operations command line
(thin: parse the arguments and call the module that does the work)."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from adapters.settings import Settings
from ops import health, model, smoke


@click.group()
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Operations: run the whole system locally, container health checks, smoke checks and the
    model registry. Configured by the environment (see README, Configuration)."""
    quiet = ctx.invoked_subcommand == health.command.name  # a health check prints one line
    logging.basicConfig(
        level=logging.WARNING if quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@cli.command()
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("run"),
    show_default=True,
    help="Where the SQLite file goes when DATABASE_URL is not set.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the API listens on.")
@click.option("--port", type=click.IntRange(1, 65535), help="API port (default: PORT, else 8000).")
@click.option(
    "--api-workers",
    type=click.IntRange(min=1),
    help="API processes (default: WEB_CONCURRENCY, else one per core).",
)
def run(data_dir: Path, host: str, port: int | None, api_workers: int | None) -> None:
    """Start the API, the stream worker and the rq worker (`make run`).

    Uses REDIS_URL / DATABASE_URL when set; otherwise an embedded Redis and a SQLite file in
    --data-dir. Ctrl-C stops everything.
    """
    from ops.launcher import run as launch

    raise SystemExit(launch(Settings(), data_dir, host, port, api_workers))


cli.add_command(health.command)
cli.add_command(smoke.command)
cli.add_command(model.commands)
