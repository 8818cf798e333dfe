"""`python -m api`: serve the API under gunicorn (see `api.server` for how it is sized)."""

from __future__ import annotations

import argparse
import logging
import os

from api import server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=None, help="default: PORT (8000)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: WEB_CONCURRENCY, else one per core)",
    )
    parser.add_argument("--threads", type=int, default=2, help="threads per worker process")
    parser.add_argument(
        "--worker-class",
        default="gthread",
        choices=("gthread", "sync"),
        help="gthread keeps connections alive; sync closes each after one request",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.add_argument("--log-level", default=os.environ.get("LOG_LEVEL", "info"))
    args = parser.parse_args(argv)

    created = server.prepare_environment()  # before anything imports prometheus_client
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
    )
    from adapters.settings import Settings

    port = args.port if args.port is not None else Settings().port
    options = server.gunicorn_options(
        bind=f"{args.host}:{port}",
        workers=args.workers or server.default_workers(),
        threads=args.threads,
        worker_class=args.worker_class,
        access_log=args.access_log,
        log_level=args.log_level,
    )
    server.ApiServer(options, created).run()


if __name__ == "__main__":
    main()
