"""`python -m worker [run] | migrate | push | rq` (also `d7-worker`): the worker's command line
(thin: parse the arguments, build the objects from Settings, call them)."""

from __future__ import annotations

import gc
import logging
import os

import click
import sqlalchemy.exc

from adapters.settings import Settings
from worker.faults import KILL_AFTER_COMMITS_ENV, kill_after_commits
from worker.push import KINDS, push_csv

log = logging.getLogger("worker")


class RunByDefault(click.Group):
    """A group whose `run` command is used when the arguments name no command, so
    `python -m worker --max-messages 5` means `python -m worker run --max-messages 5`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = ["run", *args]
        return super().parse_args(ctx, args)


@click.group(cls=RunByDefault)
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Score install events from Redis streams into Postgres and the cache.

    Configured by the environment (REDIS_URL, DATABASE_URL, ...: see README, Configuration).
    Without a command, `run`.
    """
    settings = ctx.ensure_object(dict).setdefault("settings", Settings())
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _settings() -> Settings:
    return click.get_current_context().find_root().obj["settings"]


@cli.command()
@click.option("--max-messages", type=click.IntRange(min=1), help="Stop after this many entries.")
@click.option("--until-empty", is_flag=True, help="Stop when nothing is left to read or claim.")
@click.option("--consumer", help="Consumer name (default: host name and pid).")
@click.option("--no-pipeline", is_flag=True, help="Commit each batch before reading the next.")
def run(max_messages: int | None, until_empty: bool, consumer: str | None, no_pipeline: bool):
    """Consume the install-events, scored and outcomes streams (the default command)."""
    from adapters.heartbeat import Heartbeat
    from worker.wiring import build_worker

    settings = _settings()
    worker = build_worker(settings, consumer=consumer)
    worker.pipelined = not no_pipeline
    worker.heartbeat = Heartbeat.of(settings, "worker")  # read by `python -m ops health worker`
    worker.install_signal_handlers()
    if os.environ.get(KILL_AFTER_COMMITS_ENV):
        commits = int(os.environ[KILL_AFTER_COMMITS_ENV])
        log.warning("fault injection: SIGKILL right after database commit %d", commits)
        worker.handler.after_commit = kill_after_commits(commits)
    gc.collect()
    gc.freeze()  # the model and the libraries stay for good: keep them out of GC passes
    log.info(
        "consumer %s of group %s on %s",
        worker.consumer,
        settings.consumer_group,
        ", ".join(stream.name for stream in worker.streams),
    )
    try:
        totals = worker.run(max_messages=max_messages, until_empty=until_empty)
    except (sqlalchemy.exc.ProgrammingError, sqlalchemy.exc.OperationalError) as error:
        log.error("database not ready (%s); run `python -m worker migrate`", error.orig)
        raise SystemExit(2) from None
    log.info("stopped: %s", totals)


@cli.command()
@click.option(
    "--wait",
    type=float,
    default=30,
    show_default=True,
    help="Seconds to keep trying while the database server is unreachable.",
)
def migrate(wait: float) -> None:
    """Apply the database migrations (idempotent)."""
    from tenacity import Retrying, retry_if_exception_type, stop_after_delay

    from adapters.connections import STARTUP_WAIT
    from adapters.migrations import current_revision, upgrade_database

    url = _settings().database_url
    retrying = Retrying(
        retry=retry_if_exception_type(sqlalchemy.exc.OperationalError),
        stop=stop_after_delay(wait),
        wait=STARTUP_WAIT,
        before_sleep=lambda state: log.warning(
            "database unreachable (%s); retrying", state.outcome.exception().orig
        ),
        reraise=True,
    )
    retrying(upgrade_database, url)
    log.info("database at revision %s", current_revision(url))
    _maintain_partitions(drop=False)


def _maintain_partitions(drop: bool) -> None:
    """Create the coming days' partitions of `predictions` (Postgres) and, with `drop`, drop
    the days past RETENTION_DAYS; reports what changed."""
    from adapters import connections, partitions

    settings = _settings()
    engine = connections.database_engine(settings, connections.COMMAND)
    try:
        if not partitions.partitioned(engine):
            click.echo("predictions is not partitioned (SQLite): nothing to do")
            return
        if drop:
            done = partitions.maintain(engine, settings.retention_days)
        else:
            done = partitions.Maintenance(created=partitions.create_ahead(engine))
    finally:
        engine.dispose()
    click.echo(
        f"partitions created: {', '.join(done.created) or 'none'}; "
        f"dropped (older than {settings.retention_days} days): {', '.join(done.dropped) or 'none'}"
        f"; expired rows deleted from the default partition: {done.expired_default_rows}"
    )


@cli.command()
def partitions() -> None:
    """Create the coming days' partitions of `predictions` and drop those past RETENTION_DAYS
    (the stream worker also does this hourly)."""
    _maintain_partitions(drop=True)


@cli.command()
@click.option(
    "--file",
    "path",
    required=True,
    type=click.Path(dir_okay=False),
    help="CSV of install records, or of outcomes (user_id,revenue[,install_date]).",
)
@click.option(
    "--kind",
    type=click.Choice(list(KINDS)),
    default="installs",
    show_default=True,
    help="What the rows are: install records (INSTALLS_STREAM) or outcomes (OUTCOMES_STREAM).",
)
@click.option("--rate", type=float, help="Events per second (default: as fast as possible).")
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=500, show_default=True,
    help="Events per XADD pipeline.",
)  # fmt: skip
@click.option(
    "--stream",
    help="Stream kind (default: INSTALLS_STREAM or OUTCOMES_STREAM), partitioned by user.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def push(
    path: str, kind: str, rate: float | None, batch_size: int, stream: str | None, quiet: bool
) -> None:
    """Push install records (or outcomes) from a CSV onto their stream."""
    from adapters import connections
    from adapters.stream_partitions import PartitionedStream, StreamLayout

    settings = _settings()
    client = connections.redis_client(settings, connections.COMMAND)
    base = stream or (settings.outcomes_stream if kind == "outcomes" else settings.installs_stream)
    target = PartitionedStream(client, base, StreamLayout.of(settings), settings.stream_maxlen)
    pushed = push_csv(target, path, rate, batch_size, progress=not quiet, kind=kind)
    click.echo(
        f"{pushed} {KINDS[kind].unit}s pushed to {base} ({len(target.partitions)} stream partitions)"
    )


@cli.command("rq")
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
@click.option("--max-jobs", type=click.IntRange(min=1), help="Stop after this many jobs.")
def rq_worker(burst: bool, max_jobs: int | None) -> None:
    """Run the rq worker of the batch scoring queue (RQ_QUEUE)."""
    from worker.jobs import run_rq_worker

    run_rq_worker(_settings(), burst=burst, max_jobs=max_jobs)
