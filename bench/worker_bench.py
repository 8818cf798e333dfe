"""Stream worker benchmark: throughput against a floor consumer in the same run, latency from
XADD to cached prediction at a fixed rate, and memory over a long run.

    .venv/bin/python bench/worker_bench.py [--events 20000] [--rate 1000 --seconds 10]
                                           [--rss-events 50000]   # 1000000 for the long run

Floor: XREADGROUP + COPY (same table and indexes) + commit + cache SET pipeline + XACK, no
parsing and no scoring. Worker: `StreamWorker.run` with the real model.
Both read a backlog of the same events with the same batch size, in turn, `--rounds` times; it
prints each round (with this process's CPU per event, less sensitive to other load than rates),
the ratio of the best rates and the median of the per-round ratios; the target needs both.
Latency: the floor consumer (in a forked process), then a `python -m worker` process, consume
events XADDed at `--rate`; the time a key was written is read back from its PTTL, so both ends
are Redis server clock, to the millisecond. The floor's latency shows what the machine allows at
that moment (other processes share its 2 cores).
Everything lives under a `bench:<pid>:` key prefix and a `bench_<pid>` schema, removed at the end.
"""

from __future__ import annotations

import argparse
import csv
import gc
import io
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import orjson
import psycopg2
import redis
import sqlalchemy
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters import connections  # noqa: E402
from adapters.migrations import upgrade_database  # noqa: E402
from adapters.settings import Settings  # noqa: E402
from adapters.stream import encode_install_event  # noqa: E402
from scorer.predictor import Predictor  # noqa: E402
from scorer.synth import synthetic_records  # noqa: E402
from worker.wiring import build_worker  # noqa: E402

CACHE_TTL = 3600


def database_engine(settings: Settings):
    """The engine the stream worker builds for `settings`."""
    return connections.database_engine(settings, connections.WORKER)


def events(count: int, users: int | None = None, seed: int = 7) -> list[dict[str, str]]:
    """Encoded install events; user ids cycle over `users` distinct ids when given."""
    frame = synthetic_records(min(count, 200_000), seed=seed, with_revenue=False)
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    out = []
    for i in range(count):
        record = dict(records[i % len(records)])
        record["user_id"] = f"user-{i % users if users else i}"
        out.append(encode_install_event(record))
    return out


def fill(client, stream: str, group: str, fields: list[dict]) -> None:
    client.delete(stream)
    client.xgroup_create(stream, group, id="0", mkstream=True)
    for start in range(0, len(fields), 5000):
        pipe = client.pipeline(transaction=False)
        for entry in fields[start : start + 5000]:
            pipe.xadd(stream, entry)
        pipe.execute()


def floor_consumer(client, dsn: str, schema: str, stream: str, prefix: str, total: int, batch: int):
    """The floor: read, COPY the batch in, commit, cache, acknowledge; no parsing into records,
    no scoring, no idempotence. COPY is Postgres's fastest bulk load, and orjson is what the
    worker uses, so the floor is as quick as this sequence gets in Python."""
    connection = psycopg2.connect(dsn)
    cursor = connection.cursor()
    copy = (
        f'COPY "{schema}".floor_predictions (event_id, user_id, source, stage, input,'
        " predicted_revenue, lower, upper, model_version, event_time) FROM STDIN WITH (FORMAT csv)"
    )
    done = 0
    while done < total:
        response = client.xreadgroup("floor", "floor-1", {stream: ">"}, count=batch, block=100)
        if not response:
            continue
        entries = response[0][1]
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        pipe = client.pipeline(transaction=False)
        for entry_id, fields in entries:
            text = {key.decode(): value.decode() for key, value in fields.items()}
            user_id = text["user_id"]
            writer.writerow(
                (
                    f"floor:{entry_id.decode()}",
                    user_id,
                    "stream",
                    "install",
                    orjson.dumps(text).decode(),
                    0.0,
                    0.0,
                    0.0,
                    "floor",
                    # the event time a prediction is stamped with: the entry id's milliseconds
                    datetime.fromtimestamp(int(entry_id.split(b"-")[0]) / 1000, UTC).isoformat(),
                )
            )
            pipe.set(prefix + user_id, orjson.dumps({"user_id": user_id, "v": 0.0}), ex=CACHE_TTL)
        buffer.seek(0)
        cursor.copy_expert(copy, buffer)
        connection.commit()
        pipe.xack(stream, "floor", *[entry_id for entry_id, _ in entries])
        pipe.execute()
        done += len(entries)
    connection.close()


def timed(run) -> tuple[float, float]:
    """Seconds of wall time and of this process's CPU (all threads) that `run()` took."""
    wall, cpu = time.perf_counter(), time.process_time()
    run()
    return time.perf_counter() - wall, time.process_time() - cpu


def throughput(args, client, settings, dsn, schema, predictor) -> tuple[float, float, float]:
    """Floor then worker over the same backlog, `--rounds` times; returns the best rate of each
    and the median of the per-round ratios."""
    fields = events(args.events)
    best_floor = best_worker = 0.0
    ratios = []
    engine = database_engine(settings)
    gc.collect()
    gc.freeze()  # as `python -m worker run` does; the floor runs in this process too
    for round_ in range(args.rounds):
        fill(client, settings.installs_stream, "floor", fields)
        floor_wall, floor_cpu = timed(
            lambda: floor_consumer(
                client,
                dsn,
                schema,
                settings.installs_stream,
                settings.cache_prefix,
                len(fields),
                settings.worker_batch_size,
            )
        )
        fill(client, settings.installs_stream, settings.consumer_group, fields)
        worker = build_worker(settings, predictor, client, engine, consumer=f"bench-{round_}")
        worker.pipelined = not args.no_pipeline
        outcomes = []
        worker_wall, worker_cpu = timed(
            lambda: outcomes.append(worker.run(max_messages=len(fields)))  # noqa: B023
        )
        assert outcomes[0].acked == len(fields), outcomes[0]
        floor_rate, worker_rate = len(fields) / floor_wall, len(fields) / worker_wall
        ratios.append(worker_rate / floor_rate)
        print(
            f"  round {round_ + 1}: floor {floor_rate:,.0f} events/s "
            f"({floor_cpu / len(fields) * 1e6:.0f} us CPU/event), "
            f"worker {worker_rate:,.0f} events/s ({worker_cpu / len(fields) * 1e6:.0f} us "
            f"CPU/event), ratio {ratios[-1]:.2f}, load average {os.getloadavg()[0]:.1f}"
        )
        best_floor, best_worker = max(best_floor, floor_rate), max(best_worker, worker_rate)
        with engine.begin() as connection:
            connection.execute(
                sqlalchemy.text(f'TRUNCATE "{schema}".predictions, "{schema}".floor_predictions')
            )
    engine.dispose()
    return best_floor, best_worker, float(np.median(ratios))


def start_worker(settings: Settings, block_ms: int = 100, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name, value in settings.model_dump().items():
        if value is not None:
            env[name.upper()] = str(value)
    env["WORKER_BLOCK_MS"] = str(block_ms)
    return subprocess.Popen(
        [sys.executable, "-m", "worker", "run"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(process) -> None:
    if isinstance(process, FloorProcess):
        process.stop()
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def written_at_ms(client, keys: list[str]) -> list[float | None]:
    """When each key was last written (server clock, ms), from its remaining TTL."""
    out = []
    for start in range(0, len(keys), 200):
        pipe = client.pipeline(transaction=False)
        pipe.time()
        for key in keys[start : start + 200]:
            pipe.pttl(key)
        seconds, micros = (reply := pipe.execute())[0]
        now_ms = seconds * 1000 + micros / 1000
        out += [now_ms + ttl - CACHE_TTL * 1000 if ttl > 0 else None for ttl in reply[1:]]
    return out


def worker_args(args) -> list[str]:
    return ["--no-pipeline"] if args.no_pipeline else []


def wait_until_ready(client, settings, process) -> None:
    """Wait for the worker to consume: a warm-up event reaches the cache."""
    warmup = events(1, seed=5)[0]
    warmup["user_id"] = "warmup"
    client.xadd(settings.installs_stream, warmup)
    deadline = time.monotonic() + 120
    while not client.exists(settings.cache_prefix + "warmup"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the worker did not start")
        time.sleep(0.05)


class FloorProcess:
    """The floor consumer in a forked process, for the latency run (`poll` as in Popen)."""

    def __init__(self, args, settings: Settings, dsn: str, schema: str, total: int):
        self.process = multiprocessing.get_context("fork").Process(
            target=_floor_process,
            args=(args.redis_url, dsn, schema, settings, total, args.batch_size),
            daemon=True,
        )
        self.process.start()

    def poll(self) -> int | None:
        return None if self.process.is_alive() else self.process.exitcode

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(timeout=30)


def _floor_process(redis_url, dsn, schema, settings, total, batch) -> None:
    client = redis.Redis.from_url(redis_url)
    stream, prefix = settings.installs_stream, settings.cache_prefix
    floor_consumer(client, dsn, schema, stream, prefix, total, batch)


def latency(args, client, settings, floor: tuple[str, str] | None = None) -> np.ndarray:
    """XADD `--rate` events/s for `--seconds` to a `python -m worker` process, or with `floor`
    (dsn, schema) to the floor consumer, and return each event's ms from XADD to cache write."""
    fields = events(int(args.rate * args.seconds), seed=11)
    group = settings.consumer_group if floor is None else "floor"
    client.xgroup_create(settings.installs_stream, group, id="$", mkstream=True)
    if floor is None:
        process = start_worker(settings, 100, *worker_args(args))
    else:
        process = FloorProcess(args, settings, *floor, total=len(fields) + 1)
    try:
        wait_until_ready(client, settings, process)
        sent, start = [], time.perf_counter()
        for i, entry in enumerate(fields):
            delay = start + i / args.rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sent.append(int(client.xadd(settings.installs_stream, entry).split(b"-")[0]))
        keys = [settings.cache_prefix + entry["user_id"] for entry in fields]
        deadline = time.monotonic() + 30
        while client.exists(keys[-1]) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        written = written_at_ms(client, keys)
    finally:
        stop(process)
    missing = sum(value is None for value in written)
    if missing:
        print(f"  {missing} events never reached the cache")
    return np.array([w - s for w, s in zip(written, sent, strict=True) if w is not None])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def memory(args, client, settings) -> tuple[int, int, int, float]:
    """RSS of a worker process once it consumes, after a tenth of `--rss-events`, at the end.

    Events are pushed 20,000 at a time with the group's lag kept under 40,000, so the stream
    stays small; user ids cycle over 10,000, so the cache stays small too.
    """
    fields = events(20_000, users=10_000, seed=13)
    client.xgroup_create(settings.installs_stream, settings.consumer_group, id="$", mkstream=True)
    process = start_worker(settings, 1000, *worker_args(args))
    try:
        wait_until_ready(client, settings, process)
        ready, tenth = rss_kib(process.pid), None
        sent, start = 0, time.perf_counter()
        while sent < args.rss_events:
            pipe = client.pipeline(transaction=False)
            for entry in fields[: args.rss_events - sent]:
                pipe.xadd(settings.installs_stream, entry, maxlen=200_000, approximate=True)
            sent += len(pipe.execute())
            while client.xinfo_groups(settings.installs_stream)[0]["lag"] > 40_000:
                time.sleep(0.05)
            if tenth is None and sent >= args.rss_events // 10:
                tenth = rss_kib(process.pid)
        while True:
            info = client.xinfo_groups(settings.installs_stream)[0]
            if info["lag"] == 0 and info["pending"] == 0:
                break
            time.sleep(0.1)
        elapsed = time.perf_counter() - start
        end = rss_kib(process.pid)
    finally:
        stop(process)
    return ready, tenth or end, end, args.rss_events / elapsed


def settings_for(args, part: str, database_url: str) -> Settings:
    prefix = f"bench:{os.getpid()}:{part}:"
    return Settings(
        model_dir=args.model,
        redis_url=args.redis_url,
        database_url=database_url,
        installs_stream=prefix + "installs",
        scored_stream=prefix + "scored",
        dead_letter_stream=prefix + "dead",
        cache_prefix=prefix + "prediction:",
        cache_ttl_seconds=CACHE_TTL,
        worker_batch_size=args.batch_size,
        worker_block_ms=1000,
    )


def cleanup(client, prefix: str) -> None:
    for keys in _chunks(list(client.scan_iter(match=prefix + "*", count=10_000)), 10_000):
        client.delete(*keys)


def _chunks(items: list, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def add_service_arguments(parser: argparse.ArgumentParser) -> None:
    """The options naming the model, Redis and Postgres that `bench_services` and the worker use."""
    parser.add_argument("--model", default=str(ROOT / "models" / "d7"))
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--database-url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/test"
    )


@contextmanager
def bench_services(args):
    """A migrated `bench_<pid>` schema (plus the floor's table) and a Redis client; yields
    (client, database_url, dsn, schema) and removes the schema and `bench:<pid>:` keys after."""
    schema = f"bench_{os.getpid()}"
    admin = sqlalchemy.create_engine(args.database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(args.database_url).update_query_dict({"options": f"-csearch_path={schema}"})
    database_url = url.render_as_string(hide_password=False)
    client = redis.Redis.from_url(args.redis_url)
    try:
        upgrade_database(database_url)
        with admin.connect() as connection:
            connection.execute(
                sqlalchemy.text(
                    f'CREATE TABLE "{schema}".floor_predictions'
                    f' (LIKE "{schema}".predictions INCLUDING ALL)'
                )
            )
        dsn = (
            make_url(args.database_url)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )
        yield client, database_url, dsn, schema
    finally:
        cleanup(client, f"bench:{os.getpid()}:")
        client.close()
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="backlog per throughput run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--rate", type=float, default=1000, help="events/s for the latency run")
    parser.add_argument("--seconds", type=float, default=10, help="length of the latency run")
    parser.add_argument("--rss-events", type=int, default=50_000, help="events of the RSS run")
    parser.add_argument("--no-pipeline", action="store_true", help="worker without pipelining")
    add_service_arguments(parser)
    args = parser.parse_args()

    with bench_services(args) as (client, database_url, dsn, schema):
        predictor = Predictor.load(args.model)
        print(
            f"model {predictor.version}, batch size {args.batch_size}, {os.cpu_count()} cores, "
            f"load average {os.getloadavg()[0]:.1f}, "
            f"{'no pipeline' if args.no_pipeline else 'pipelined commits'}"
        )

        print(f"throughput, backlog of {args.events:,} events, {args.rounds} rounds:")
        settings = settings_for(args, "throughput", database_url)
        floor_rate, worker_rate, median = throughput(args, client, settings, dsn, schema, predictor)
        ratio = worker_rate / floor_rate
        print(
            f"  best worker / best floor = {worker_rate:,.0f} / {floor_rate:,.0f} = {ratio:.2f}x, "
            f"median round ratio {median:.2f}x (target >= 0.5x): "
            f"{'met' if min(ratio, median) >= 0.5 else 'NOT met'}"
        )

        print(
            f"latency XADD -> cache write at {args.rate:,.0f} events/s for {args.seconds:g} s, "
            "floor consumer first, then the worker:"
        )
        floor_settings = settings_for(args, "latency-floor", database_url)
        for name, floor in (("floor", (dsn, schema)), ("worker", None)):
            load = os.getloadavg()[0]
            settings = floor_settings if floor else settings_for(args, "latency", database_url)
            lat = latency(args, client, settings, floor)
            p50, p99, worst = np.percentile(lat, [50, 99, 100])
            verdict = (
                "" if floor else f" (target p99 <= 50 ms): {'met' if p99 <= 50 else 'NOT met'}"
            )
            print(
                f"  {name:>6}: {len(lat):,} events, p50 {p50:.0f} ms, p99 {p99:.0f} ms, "
                f"max {worst:.0f} ms, load average {load:.1f}{verdict}"
            )

        if args.rss_events:
            print(f"memory over {args.rss_events:,} events (worker process RSS):")
            ready, tenth, end, rate = memory(args, client, settings_for(args, "rss", database_url))
            print(
                f"  at start: {ready / 1024:.1f} MiB, after 10%: {tenth / 1024:.1f} MiB, "
                f"at the end: {end / 1024:.1f} MiB; end / start = {end / ready:.2f}x, "
                f"end / 10% = {end / tenth:.2f}x ({rate:,.0f} events/s)"
            )


if __name__ == "__main__":
    main()
