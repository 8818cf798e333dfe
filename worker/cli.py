"""`python -m worker [run] | migrate | push | rq`: the worker's command line (thin: parse the
arguments, build the objects from Settings, call them)."""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys
import time
from collections.abc import Sequence

import sqlalchemy.exc

from adapters.settings import Settings
from worker.faults import KILL_AFTER_COMMITS_ENV, kill_after_commits

log = logging.getLogger("worker")


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from worker.wiring import build_worker

    worker = build_worker(settings, consumer=args.consumer)
    worker.pipelined = not args.no_pipeline
    worker.install_signal_handlers()
    if os.environ.get(KILL_AFTER_COMMITS_ENV):
        commits = int(os.environ[KILL_AFTER_COMMITS_ENV])
        log.warning("fault injection: SIGKILL right after database commit %d", commits)
        worker.handler.after_commit = kill_after_commits(commits)
    gc.collect()
    gc.freeze()  # the model and the libraries stay for good: keep them out of GC passes
    log.info(
        "consumer %s of group %s on %s and %s",
        worker.consumer,
        settings.consumer_group,
        settings.installs_stream,
        settings.scored_stream,
    )
    try:
        totals = worker.run(max_messages=args.max_messages, until_empty=args.until_empty)
    except (sqlalchemy.exc.ProgrammingError, sqlalchemy.exc.OperationalError) as error:
        log.error("database not ready (%s); run `python -m worker migrate`", error.orig)
        return 2
    log.info("stopped: %s", totals)
    return 0


def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.migrations import current_revision, upgrade_database

    deadline = time.monotonic() + args.wait
    while True:
        try:
            upgrade_database(settings.database_url)
            break
        except sqlalchemy.exc.OperationalError as error:
            if time.monotonic() > deadline:
                raise
            log.warning("database unreachable (%s); retrying", error.orig)
            time.sleep(1)
    log.info("database at revision %s", current_revision(settings.database_url))
    return 0


def _push(args: argparse.Namespace, settings: Settings) -> int:
    import redis

    from adapters.stream import EventStream
    from worker.push import push_csv

    client = redis.Redis.from_url(settings.redis_url)
    stream = EventStream(client, args.stream or settings.installs_stream, settings.stream_maxlen)
    pushed = push_csv(stream, args.file, args.rate, args.batch_size, progress=not args.quiet)
    print(f"{pushed} events pushed to {stream.name}")
    return 0


def _rq(args: argparse.Namespace, settings: Settings) -> int:
    import redis

    from worker.jobs import run_rq_worker

    client = redis.Redis.from_url(settings.redis_url)
    run_rq_worker(settings, client, burst=args.burst, max_jobs=args.max_jobs)
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m worker",
        description="Score install events from Redis streams into Postgres and the cache.",
    )
    commands = root.add_subparsers(dest="command")
    run = commands.add_parser("run", help="consume the streams (the default command)")
    run.add_argument("--max-messages", type=int, help="stop after this many entries")
    run.add_argument("--until-empty", action="store_true", help="stop when nothing is left")
    run.add_argument("--consumer", help="consumer name (default: host name and pid)")
    run.add_argument(
        "--no-pipeline", action="store_true", help="commit each batch before reading the next"
    )
    migrate = commands.add_parser("migrate", help="apply the database migrations")
    migrate.add_argument("--wait", type=float, default=30, help="seconds to wait for the server")
    push = commands.add_parser("push", help="push install records from a CSV onto the stream")
    push.add_argument("--file", required=True, help="CSV of install records")
    push.add_argument("--rate", type=float, help="events per second (default: as fast as possible)")
    push.add_argument("--batch-size", type=int, default=500, help="events per XADD pipeline")
    push.add_argument("--stream", help="stream key (default: INSTALLS_STREAM)")
    push.add_argument("--quiet", action="store_true", help="no progress bar")
    rq = commands.add_parser("rq", help="run the rq worker of the batch scoring queue")
    rq.add_argument("--burst", action="store_true", help="stop when the queue is empty")
    rq.add_argument("--max-jobs", type=int, help="stop after this many jobs")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings()
    if args.command is None:
        args = parser().parse_args(["run", *(argv if argv is not None else sys.argv[1:])])
    commands = {"run": _run, "migrate": _migrate, "push": _push, "rq": _rq}
    return commands[args.command](args, settings)
