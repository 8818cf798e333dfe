"""CPU per cache read (one GET of a cached prediction), by how the API could read it.

A cache hit of `GET /users/<id>/prediction` is little more than one GET, so the client's own
work per command is a visible share of the endpoint's cost. Compares, in one run and one
process, against the machine's Redis:

- a pooled redis-py client (the baseline: what the rest of the API uses),
- a single-connection client (no pool checkout per command),
- `api.services.PerThreadRedis.get` (the API's cache reads: the thread's own connection).

CPU time of this process only (Redis's own work is not counted), median of the repeats.

    .venv/bin/python bench/cache_read_bench.py [--redis-db N] [--calls N] [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from samples import cached_prediction  # noqa: E402

from adapters.connections import REQUEST, redis_client  # noqa: E402
from adapters.settings import Settings  # noqa: E402
from api.services import PerThreadRedis  # noqa: E402

VALUE = orjson.dumps(cached_prediction("bench-user"))


def cpu_us_per_call(read, calls: int) -> float:
    read()
    started = time.process_time()
    for _ in range(calls):
        read()
    return (time.process_time() - started) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis-db", type=int, default=int(os.environ.get("TEST_REDIS_DB", 15)))
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    settings = Settings(redis_url=f"redis://127.0.0.1:6379/{args.redis_db}")
    key = f"bench:{os.getpid()}:prediction"
    pooled = redis_client(settings, REQUEST)
    single = redis_client(settings, REQUEST, single_connection=True)
    per_thread = PerThreadRedis(lambda: redis_client(settings, REQUEST, single_connection=True))
    readers = {
        "pooled client .get (baseline)": lambda: pooled.get(key),
        "single-connection client .get": lambda: single.get(key),
        "PerThreadRedis.get (the API)": lambda: per_thread.get(key),
    }
    pooled.set(key, VALUE)
    try:
        for read in readers.values():
            assert read() == VALUE
        times = {name: [] for name in readers}
        for _ in range(args.repeats):
            for name, read in readers.items():
                times[name].append(cpu_us_per_call(read, args.calls))
    finally:
        pooled.delete(key)
    baseline = statistics.median(times["pooled client .get (baseline)"])
    print(f"CPU of this process per GET ({args.calls:,} calls, median of {args.repeats} repeats):")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:32s} {median:6.1f} us   {median / baseline:.2f}x the baseline")


if __name__ == "__main__":
    main()
