"""In-process cost per request of the API's hot endpoints, optionally against an older revision.

Calls the Flask app directly through WSGI (no server, no network): POST /predict with one record
(the committed model), GET /users/<id>/prediction answered from the cache (fakeredis) and
GET /healthz. With `--before REV` the same measurement also runs on that revision's tree
(extracted with `git archive`), alternating the two trees round by round so that other load on
a shared machine falls on both alike. CPU time of the process per request: the fastest of a
round's blocks, then the median over rounds.

    .venv/bin/python bench/endpoint_overhead.py [--before REV] [--requests N] [--rounds R]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
USER = "bench-user"
RECORD = {"user_id": USER, "country": "us", "platform": "iOS", "source": "Organic"}
CACHED_ENV = "ENDPOINT_OVERHEAD_CACHED"
"""The cached value every measured tree serves: built once by this tree's own code
(`cached_value`) and stored as bytes, so an older tree needs no knowledge of its fields."""
WARM_UP = 200
"""Requests of each endpoint before the timed ones (specialised bytecode, caches)."""
BLOCKS = 10
"""The timed requests run in this many blocks; the fastest block is the one least disturbed by
other work on the machine."""
REQUESTS = {
    "POST /predict": ("POST", "/predict", RECORD),
    "GET /users/<id>/prediction": ("GET", f"/users/{USER}/prediction", None),
    "GET /healthz": ("GET", "/healthz", None),
}


def measure(root: Path, requests: int) -> dict[str, float]:
    """Microseconds per request of each endpoint, for the app of the tree at `root`."""
    sys.path.insert(0, str(root))
    import fakeredis

    from adapters.migrations import upgrade_database
    from adapters.settings import Settings
    from api.app import create_app

    directory = tempfile.mkdtemp(prefix="endpoint-overhead-")
    url = f"sqlite:///{directory}/predictions.db"
    upgrade_database(url)
    settings = Settings(database_url=url, model_dir=str(root / "models" / "d7"))
    app = create_app(settings, redis=fakeredis.FakeRedis(), start_publisher=False)
    cache = app.extensions["d7"].cache
    cache.redis.set(cache.key(USER), os.environ[CACHED_ENV])

    def start_response(status, headers, exc_info=None):
        if not status.startswith("200"):
            raise RuntimeError(f"unexpected status {status}")

    results = {}
    for name, (method, path, body) in REQUESTS.items():
        environ, data = _environ(method, path, body)
        for _ in range(WARM_UP):
            b"".join(app.wsgi_app(_fresh(environ, data), start_response))
        block = max(1, requests // BLOCKS)
        timings = []
        for _ in range(BLOCKS):
            environs = [_fresh(environ, data) for _ in range(block)]
            started = time.process_time()
            for item in environs:
                b"".join(app.wsgi_app(item, start_response))
            timings.append((time.process_time() - started) / block * 1e6)
        results[name] = min(timings)
    app.extensions["d7"].close()
    shutil.rmtree(directory)
    return results


def _environ(method: str, path: str, body) -> tuple[dict, bytes]:
    from werkzeug.test import EnvironBuilder

    data = json.dumps(body).encode() if body is not None else b""
    content_type = "application/json" if data else None
    builder = EnvironBuilder(path=path, method=method, data=data, content_type=content_type)
    return builder.get_environ(), data


def _fresh(environ: dict, data: bytes) -> dict:
    copy = dict(environ)
    copy["wsgi.input"] = io.BytesIO(data)
    return copy


def _extract(revision: str) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision], check=True, capture_output=True
    ).stdout
    target = Path(tempfile.mkdtemp(prefix="endpoint-overhead-"))
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


def cached_value() -> str:
    """A cached install-stage prediction of USER, as this tree's cache stores it."""
    sys.path.insert(0, str(ROOT))
    from samples import cached_prediction

    from scorer.schema import STAGE_INSTALL

    return json.dumps(cached_prediction(USER, STAGE_INSTALL), default=str)


def _run(root: Path, requests: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--measure", str(root), "--requests", str(requests)]
    env = dict(os.environ, PYTHONHASHSEED="0")
    env.setdefault(CACHED_ENV, cached_value())
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="git revision to compare against (e.g. main)")
    parser.add_argument("--requests", type=int, default=3000, help="requests per endpoint")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.requests)))
        return
    trees = {"after": ROOT}
    if args.before:
        trees = {"before": _extract(args.before), "after": ROOT}
    runs: dict[str, list[dict[str, float]]] = {label: [] for label in trees}
    try:
        for _ in range(args.rounds):
            for label, root in trees.items():
                runs[label].append(_run(root, args.requests))
    finally:
        if args.before:
            shutil.rmtree(trees["before"])
    print(f"CPU microseconds per request, median of {args.rounds} rounds of {args.requests}")
    print(f"{'endpoint':28}" + "".join(f"{label:>10}" for label in trees))
    for name in REQUESTS:
        medians = [statistics.median(run[name] for run in runs[label]) for label in trees]
        print(f"{name:28}" + "".join(f"{value:10.1f}" for value in medians))


if __name__ == "__main__":
    main()
