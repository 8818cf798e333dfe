"""`python -m ops run | health | smoke | model`: the operations command line (thin: parse the
arguments and call the module that does the work)."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from ops import health, model, smoke


def _run(args: argparse.Namespace) -> int:
    from ops.launcher import run

    return run(args.data_dir, args.host, args.port, args.api_workers)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m ops", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="start the API, the stream worker and the rq worker (make run)",
        description="Uses REDIS_URL / DATABASE_URL when set; otherwise an embedded Redis "
        "and a SQLite file in --data-dir.",
    )
    run.add_argument("--data-dir", type=Path, default=Path("run"), help="default: run/")
    run.add_argument("--host", default="127.0.0.1", help="API address (default 127.0.0.1)")
    run.add_argument("--port", type=int, help="API port (default PORT, else 8000)")
    run.add_argument(
        "--api-workers",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY") or 2),
        help="API processes (default WEB_CONCURRENCY, else 2)",
    )
    run.set_defaults(run=_run)
    health.add_command(commands)
    smoke.add_command(commands)
    model.add_commands(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.command == "health" else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return args.run(args)
