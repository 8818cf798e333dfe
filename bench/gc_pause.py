"""How long a full garbage collection stops an API worker, before and after freezing.

Builds the app as a gunicorn worker does (real model, warm-up; Redis and the database need not
be up), then times full collections (`gc.collect()`) with everything loaded still tracked (the
baseline), and again after `api.server.freeze_loaded_objects`, in the same process.

    .venv/bin/python bench/gc_pause.py [--repeats N]
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("OMP_NUM_THREADS", "1")


def full_collection_ms(repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        gc.collect()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    from api.app import create_app
    from api.server import freeze_loaded_objects

    app = create_app(start_publisher=False)
    tracked = len(gc.get_objects())
    before = full_collection_ms(args.repeats)
    freeze_loaded_objects()
    after = full_collection_ms(args.repeats)
    print(f"objects tracked by the collector after start-up: {tracked:,}")
    print(
        f"full collection, everything tracked (baseline): {before:8.2f} ms (median of {args.repeats})"
    )
    print(
        f"full collection, loaded objects frozen:         {after:8.2f} ms ({gc.get_freeze_count():,} frozen)"
    )
    app.extensions["d7"].close()


if __name__ == "__main__":
    main()
