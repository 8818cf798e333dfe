"""Where a batch's time goes in the stream worker: read, parse, score, insert, cache + XACK.

    .venv/bin/python bench/worker_stages.py [--sizes 1 10 50 500] [--batches 40]

Runs the real `StreamWorker` (one thread, no pipelining) with the real model against the real
Redis and Postgres over a backlog, reading batches of each size, and prints per stage the median
wall time and the median CPU time of the thread per batch, and the CPU per event. `cache`
builds the SET commands, `send+ack` sends them with the XACK; `total` runs from the start of
the read to the end of the commit, so it includes the loop's own work. CPU time is
what the worker itself spends; wall minus CPU is waiting (servers, other processes). Keys live
under `bench:<pid>:`, tables in a `bench_<pid>` schema, both removed at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from worker_bench import (  # noqa: E402
    add_service_arguments,
    bench_services,
    database_engine,
    events,
    fill,
    settings_for,
)

from scorer.predictor import Predictor  # noqa: E402
from worker.wiring import build_worker  # noqa: E402

STAGES = ("read", "parse", "score", "insert", "cache", "send+ack", "total")


class Stopwatch:
    """Wall and thread-CPU milliseconds per stage, summed within a batch; a batch's total runs
    from the start of its read to the end of its commit."""

    def __init__(self):
        self.current = {stage: [0.0, 0.0] for stage in STAGES}
        self.batches: list[dict[str, list[float]]] = []
        self.batch_start = (0.0, 0.0)

    @contextmanager
    def timing(self, stage: str):
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.current[stage][0] += (time.perf_counter() - wall) * 1000
            self.current[stage][1] += (time.thread_time() - cpu) * 1000

    def wrap(self, owner, name: str, stage: str) -> None:
        original = getattr(owner, name)

        def timed(*args, **kwargs):
            with self.timing(stage):
                return original(*args, **kwargs)

        setattr(owner, name, timed)

    def start_batch(self) -> None:
        self.batch_start = (time.perf_counter(), time.thread_time())

    def end_batch(self) -> None:
        wall, cpu = self.batch_start
        self.current["total"] = [
            (time.perf_counter() - wall) * 1000,
            (time.thread_time() - cpu) * 1000,
        ]
        self.batches.append(self.current)
        self.current = {stage: [0.0, 0.0] for stage in STAGES}


def measure(worker, size: int, batches: int) -> Stopwatch:
    """Run the worker over `batches` + 3 batches of `size` (the first 3 warm up, not counted)."""
    watch = Stopwatch()
    handler = worker.handler
    watch.wrap(handler, "_parse", "parse")
    watch.wrap(handler, "_score", "score")
    watch.wrap(handler.store, "insert_new", "insert")
    watch.wrap(handler.cache, "set_many", "cache")  # queues the SETs
    watch.wrap(handler, "_ack", "send+ack")  # queues the XACK, sends SETs and XACK
    read, commit = worker._read_new, handler.commit

    def timed_read():
        watch.start_batch()
        with watch.timing("read"):
            return read()

    def timed_commit(prepared):
        outcome = commit(prepared)
        watch.end_batch()
        return outcome

    worker._read_new, handler.commit = timed_read, timed_commit
    worker.pipelined = False
    worker.run(max_messages=size * (batches + 3))
    del watch.batches[:3]
    return watch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 50, 500])
    parser.add_argument("--batches", type=int, default=40, help="measured batches per size")
    add_service_arguments(parser)
    args = parser.parse_args()
    predictor = Predictor.load(args.model)
    with bench_services(args) as (client, database_url, _dsn, _schema):
        print(
            f"model {predictor.version}, {os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.1f}; per batch: median wall / median CPU (ms)"
        )
        print(f"{'batch':>6} " + " ".join(f"{stage:>15}" for stage in STAGES) + "  CPU/event")
        for size in args.sizes:
            args.batch_size = size
            settings = settings_for(args, f"stages{size}", database_url)
            fill(
                client,
                settings.installs_stream,
                settings.consumer_group,
                events(size * (args.batches + 3), seed=size),
            )
            engine = database_engine(settings)
            worker = build_worker(settings, predictor, client, engine, consumer="stages")
            watch = measure(worker, size, args.batches)
            engine.dispose()
            cells = []
            for stage in STAGES:
                wall = statistics.median(batch[stage][0] for batch in watch.batches)
                cpu = statistics.median(batch[stage][1] for batch in watch.batches)
                cells.append(f"{wall:7.2f} / {cpu:5.2f}")
            total_cpu = statistics.median(batch["total"][1] for batch in watch.batches)
            print(
                f"{size:>6} "
                + " ".join(f"{cell:>15}" for cell in cells)
                + f"  {total_cpu / size * 1000:6.0f} us"
            )
        print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
