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


@cli.command()
@click.option(
    "--file",
    "path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=Path("data/dataset.csv"),
    show_default=True,
    help="CSV of install records with their revenue.",
)
@click.option("--url", default="http://127.0.0.1:8000", show_default=True, help="The API.")
@click.option("--users", type=click.IntRange(min=1), help="Replay only the first N users.")
def demo(path: Path, url: str, users: int | None) -> None:
    """Replay a data file against a running service (`make run`): installs, then early events,
    then outcomes with install dates over past days, so the monitoring report fills up."""
    from datetime import UTC, datetime

    from ops.demo import run_demo, summary
    from ops.smoke import Api

    report = run_demo(Api(url, Settings().api_key), path, datetime.now(UTC).date(), users)
    click.echo(summary(report))
    click.echo(f"{url}/monitoring/calibration  {url}/monitoring/drift  {url}/metrics")


@cli.group()
def monitor() -> None:
    """The monitoring report of the predictions against their outcomes."""


@monitor.command()
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="First install date.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Last install date (today).")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory of the page (index.html) and its CSV tables.",
)
def report(since, until, out: Path) -> None:
    """Write the HTML monitoring report (DATABASE_URL, and the bundle for input drift)."""
    from datetime import UTC, datetime, timedelta

    from adapters import connections
    from adapters.model_source import load_predictor
    from ops.report import build_report
    from scorer.monitoring import OVERDUE_AFTER_DAYS

    settings = Settings()
    last = until.date() if until else datetime.now(UTC).date()
    first = since.date() if since else last - timedelta(days=4 * OVERDUE_AFTER_DAYS)
    if first > last:
        raise click.BadParameter("must not be after --until", param_hint="--since")
    engine = connections.database_engine(settings, connections.COMMAND)
    try:
        domain = getattr(load_predictor(settings).predictor, "domain", None)
        page = build_report(engine, domain, first, last, out)
    finally:
        engine.dispose()
    click.echo(f"wrote {page}")


cli.add_command(health.command)
cli.add_command(smoke.command)
cli.add_command(model.commands)
