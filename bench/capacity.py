"""Capacity figures for docs/production.md, derived from measurements made in one run.

1. Runs bench/api_bench.py and bench/worker_bench.py (or reads their saved output) and keeps
   what they measured: the API server's CPU time per POST /predict (which, unlike a rate, does
   not depend on what else the machine runs) and rate, and stream events per second per worker
   process.
2. Measures what one prediction costs at rest: bytes per entry of the installs and scored
   streams and per cache key (Redis MEMORY USAGE), bytes per row of `predictions` with its
   indexes (pg_total_relation_size), from rows made by the real model and adapters; and the
   stream worker's events per CPU-second of its own process over a backlog, which (unlike a
   rate) does not depend on what else the machine runs.
3. Prints the resources a target load needs, planning each process at --utilization of its
   measured maximum.

    .venv/bin/python bench/capacity.py [--api-output F --worker-output F --cluster-output F]
        [--predict-rps 2000 --events-per-second 5000 --installs-per-day 1000000 --retention-days 90]

4. From bench/cluster_worker_bench.py (a local Redis Cluster): the Redis server CPU per event
   of the stream path, which bounds one shard, hence the stream partitions and masters needed.

Uses the machine's Redis (db --redis-db, keys under `capacity:<pid>:`, deleted at the end) and
Postgres (a `capacity_<pid>` schema in database `test`, dropped at the end).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import subprocess
import sys
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import redis
import sqlalchemy
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.cache import PredictionCache  # noqa: E402
from adapters.connections import WORKER, redis_client  # noqa: E402
from adapters.migrations import upgrade_database  # noqa: E402
from adapters.settings import Settings  # noqa: E402
from adapters.store import PredictionStore, make_engine  # noqa: E402
from adapters.stream import EventStream, encode_install_event, encode_scored  # noqa: E402
from scorer.predictor import Predictor  # noqa: E402
from scorer.schema import InstallRecord  # noqa: E402
from scorer.synth import synthetic_records  # noqa: E402
from worker.predictions import predict_events  # noqa: E402
from worker.wiring import build_worker  # noqa: E402

SAMPLE = 10_000
"""Predictions written to measure their size at rest."""


def bench_output(script: str, saved: str | None, extra: list[str]) -> str:
    if saved:
        return Path(saved).read_text()
    command = [sys.executable, str(ROOT / "bench" / script), *extra]
    print(f"$ python {' '.join(command[1:])}", flush=True)
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT).stdout
    print(output, flush=True)
    return output


def number(pattern: str, text: str, what: str) -> float:
    found = re.search(pattern, text)
    if found is None:
        raise SystemExit(f"could not find {what} in the benchmark output:\n{text}")
    return float(found[1].replace(",", ""))


def parse_api(text: str) -> dict[str, float]:
    rates = re.search(r"predict\s+req/s:\s*([\d ,.]+)", text)
    if rates is None:
        raise SystemExit(f"no POST /predict rate in:\n{text}")
    return {
        "workers": number(r"python -m api, (\d+) gunicorn", text, "API workers"),
        "predict_rps": max(float(v) for v in rates[1].replace(",", " ").split()),
        "predict_cpu_us": number(r"CPU per request \(median\):.*?predict (\d+) us", text, "CPU"),
        "layout": re.search(r"layout: (\w+)", text)[1] if "layout:" in text else "shared",
    }


def parse_worker(text: str) -> dict[str, float]:
    return {
        "cores": number(r"(\d+) cores", text, "cores"),
        "events_per_s": number(r"best worker / best floor = ([\d,]+) /", text, "worker rate"),
        "rss_mib": number(r"at the end: ([\d.]+) MiB", text, "worker RSS"),
    }


def parse_cluster(text: str) -> dict[str, float]:
    """Redis masters' CPU per event (the best round) and the rates of bench/cluster_worker_bench."""
    per_event = [float(v) for v in re.findall(r"Redis masters (\d+) us CPU/event", text)]
    if not per_event:
        raise SystemExit(f"no Redis CPU per event in:\n{text}")
    worker_us = [
        float(v)
        for v in re.findall(r"partitions round \d+: [\d,]+ events/s \(worker (\d+) us", text)
    ]
    return {
        "redis_us_per_event": min(per_event),
        "worker_us_per_event": min(worker_us),
        "single_rate": number(r"single Redis, 1 stream ([\d,]+) events/s", text, "single rate"),
        "cluster_rate": number(r"partitions ([\d,]+) events/s", text, "cluster rate"),
        "partitions": number(r"Redis Cluster \(3 masters\), (\d+) partitions", text, "N"),
    }


def sample_rows(predictor, count: int) -> list[dict]:
    frame = synthetic_records(count, seed=11, with_revenue=False)
    raw = frame.astype(object).where(frame.notna(), None).to_dict("records")
    records = [InstallRecord(**{**r, "user_id": f"capacity-user-{i}"}) for i, r in enumerate(raw)]
    now = datetime.now(UTC)
    return predict_events(
        predictor, records, [f"capacity-{i}" for i in range(count)], [now] * count, "stream"
    )


def redis_bytes(client, prefix: str, rows: list[dict]) -> dict[str, float]:
    installs = EventStream(client, prefix + "installs", None)
    scored = EventStream(client, prefix + "scored", None)
    installs.append_many(encode_install_event(row["input"], row["event_id"]) for row in rows)
    scored.append_many(encode_scored(row) for row in rows)
    cache = PredictionCache(client, prefix + "prediction:", 691200)
    cache.set_many(rows)
    sampled = [cache.key(row["user_id"]) for row in rows[:: max(1, len(rows) // 500)]]
    per_key = sum(client.memory_usage(key, samples=0) for key in sampled) / len(sampled)
    return {
        "install_entry": client.memory_usage(installs.name, samples=0) / len(rows),
        "scored_entry": client.memory_usage(scored.name, samples=0) / len(rows),
        "cache_key": per_key,
    }


@contextmanager
def scratch_schema(database_url: str):
    """A migrated `capacity_<pid>` schema (its URL), dropped afterwards."""
    schema = f"capacity_{os.getpid()}"
    admin = sqlalchemy.create_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(database_url).update_query_dict({"options": f"-csearch_path={schema}"})
    scoped = url.render_as_string(hide_password=False)
    try:
        upgrade_database(scoped)
        yield scoped
    finally:
        with admin.connect() as connection:
            connection.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def postgres_bytes(database_url: str, rows: list[dict]) -> float:
    """Bytes per row of `predictions`, indexes included, then the table is emptied again."""
    engine = make_engine(database_url)
    try:
        PredictionStore(engine).save_many(rows)
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text("ANALYZE predictions"))
            size = connection.execute(
                # a partitioned table holds nothing itself: add up its partitions (a plain
                # table is its own only member of the tree)
                sqlalchemy.text(
                    "SELECT sum(pg_total_relation_size(relid))"
                    " FROM pg_partition_tree('predictions')"
                )
            ).scalar_one()
            connection.execute(sqlalchemy.text("TRUNCATE predictions"))
    finally:
        engine.dispose()
    return float(size) / len(rows)


def worker_cpu(predictor, redis_url: str, database_url: str, prefix: str, rows) -> float:
    """Events per CPU-second of the stream worker's own process (parse, score, commit, cache,
    XACK over a backlog; Redis and Postgres are other processes): what one dedicated core
    sustains, whatever else the machine runs."""
    settings = Settings(
        redis_url=redis_url,
        database_url=database_url,
        installs_stream=prefix + "w:installs",
        scored_stream=prefix + "w:scored",
        dead_letter_stream=prefix + "w:dead",
        cache_prefix=prefix + "w:prediction:",
        worker_block_ms=100,
    )
    client = redis_client(settings, WORKER)
    EventStream(client, settings.installs_stream, None).append_many(
        encode_install_event(row["input"], f"w-{row['event_id']}") for row in rows
    )
    worker = build_worker(settings, predictor, client, consumer="capacity")
    started = time.process_time()
    totals = worker.run(until_empty=True)
    cpu = time.process_time() - started
    worker.handler.store.engine.dispose()
    assert totals.inserted == len(rows), totals
    return len(rows) / cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--api-output", help="saved output of bench/api_bench.py")
    parser.add_argument("--worker-output", help="saved output of bench/worker_bench.py")
    parser.add_argument("--predict-rps", type=float, default=2000, help="peak POST /predict/s")
    parser.add_argument("--cluster-output", help="saved output of bench/cluster_worker_bench.py")
    parser.add_argument(
        "--events-per-second",
        type=float,
        help="peak events/s (default: installs/day x --events-per-install / 86,400 s x "
        "--peak-factor)",
    )
    parser.add_argument("--events-per-install", type=float, default=2.0)
    parser.add_argument("--peak-factor", type=float, default=3.0, help="peak / daily mean")
    parser.add_argument(
        "--master-memory-gib", type=float, default=32.0, help="memory of one Redis master"
    )
    parser.add_argument("--installs-per-day", type=float, default=1_000_000)
    parser.add_argument("--retention-days", type=int, default=90, help="rows kept in Postgres")
    parser.add_argument("--utilization", type=float, default=0.6, help="planned share of max")
    parser.add_argument("--redis-db", type=int, default=int(os.environ.get("TEST_REDIS_DB", 15)))
    parser.add_argument(
        "--database-url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/test"
    )
    args = parser.parse_args()
    if args.events_per_second is None:
        args.events_per_second = (
            args.installs_per_day * args.events_per_install / 86_400 * args.peak_factor
        )
    redis_url = f"redis://127.0.0.1:6379/{args.redis_db}"
    load_before = os.getloadavg()[0]

    api = parse_api(
        bench_output("api_bench.py", args.api_output, ["--redis-db", str(args.redis_db)])
    )
    worker = parse_worker(
        bench_output("worker_bench.py", args.worker_output, ["--redis-url", redis_url])
    )
    cluster = parse_cluster(bench_output("cluster_worker_bench.py", args.cluster_output, []))
    predictor = Predictor.load(ROOT / "models" / "d7")
    rows = sample_rows(predictor, SAMPLE)
    client = redis.Redis.from_url(redis_url)
    prefix = f"capacity:{os.getpid()}:"
    try:
        sizes = redis_bytes(client, prefix, rows)
        with scratch_schema(args.database_url) as database_url:
            row_bytes = postgres_bytes(database_url, rows)
            worker["events_per_cpu_s"] = worker_cpu(
                predictor, redis_url, database_url, prefix, rows
            )
    finally:
        for key in client.scan_iter(match=prefix + "*", count=1000):
            client.delete(key)
    loads = (load_before, os.getloadavg()[0])
    report(args, api, worker, sizes, row_bytes, loads)
    report_scale_out(args, worker, cluster, sizes, row_bytes)


def report(args, api, worker, sizes, row_bytes, loads) -> None:
    cores, use = worker["cores"], args.utilization
    api_per_core = 1e6 / api["predict_cpu_us"]  # server CPU per request: load-independent
    api_cores = math.ceil(args.predict_rps / (api_per_core * use))
    worker_per_core = worker["events_per_cpu_s"]
    worker_processes = math.ceil(args.events_per_second / (worker_per_core * use))
    rows_per_day = args.installs_per_day * 2  # an install-stage and an early-events prediction
    cache_keys = args.installs_per_day * 8  # CACHE_TTL_SECONDS: 8 days of users
    stream_bytes = 1_000_000 * (sizes["install_entry"] + sizes["scored_entry"])  # STREAM_MAXLEN
    gib = 1024**3
    print(
        f"\nmeasured on {cores:.0f} cores (load generators included), 1-minute load average "
        f"{loads[0]:.1f} at the start of this run and {loads[1]:.1f} at its end:"
    )
    print(
        f"  API: server CPU {api['predict_cpu_us']:.0f} us per POST /predict = "
        f"{api_per_core:,.0f} requests/s per core (wrk reached {api['predict_rps']:,.0f}/s with "
        f"{api['workers']:.0f} process(es), CPU layout {api['layout']})"
    )
    print(
        f"  stream worker: {worker_per_core:,.0f} events per CPU-second of its process "
        f"({SAMPLE:,}-event backlog); worker_bench reached {worker['events_per_s']:,.0f} events/s "
        f"on the shared cores; RSS {worker['rss_mib']:.0f} MiB"
    )
    print(
        f"  at rest: installs entry {sizes['install_entry']:.0f} B, scored entry "
        f"{sizes['scored_entry']:.0f} B, cache key {sizes['cache_key']:.0f} B, table row with "
        f"indexes {row_bytes:.0f} B ({SAMPLE:,} predictions of the real model)"
    )
    print(f"\nplan at {use:.0%} of the measured maximum:")
    print(f"  {args.predict_rps:,.0f} POST /predict/s peak -> {api_cores} API cores")
    run = max(2, worker_processes)  # a dead worker's entries are claimed by another one
    print(
        f"  {args.events_per_second:,.0f} events/s peak -> {worker_processes} worker "
        f"process(es) of one core each; run {run} so that one can fail "
        f"(~{run * worker['rss_mib'] / 1024:.1f} GiB RSS)"
    )
    print(
        f"  Redis: both streams at STREAM_MAXLEN 1,000,000 = {stream_bytes / gib:.2f} GiB; "
        f"{args.installs_per_day:,.0f} installs/day x 8-day TTL = {cache_keys:,.0f} cache keys "
        f"= {cache_keys * sizes['cache_key'] / gib:.2f} GiB"
    )
    print(
        f"  Postgres: {rows_per_day:,.0f} rows/day (2 predictions per install) = "
        f"{rows_per_day * row_bytes / gib:.2f} GiB/day; {args.retention_days} days retained = "
        f"{rows_per_day * row_bytes * args.retention_days / gib:.0f} GiB"
    )


def report_scale_out(args, worker, cluster, sizes, row_bytes) -> None:
    """Stream partitions, Redis masters, workers, Postgres partitions and Redis memory per
    master for the scenario, from the Redis CPU per event measured on the local cluster."""
    use, gib = args.utilization, 1024**3
    shard_events = 1e6 / cluster["redis_us_per_event"]  # one master's core, stream path only
    worker_events = 1e6 / cluster["worker_us_per_event"]  # one worker core, on the cluster
    rows_per_day = args.installs_per_day * 2
    cache_bytes = args.installs_per_day * 8 * sizes["cache_key"]
    entry_bytes = sizes["install_entry"] + sizes["scored_entry"]  # one of each kind
    by_cpu = math.ceil(args.events_per_second / (shard_events * use))
    by_memory = math.ceil(cache_bytes / (args.master_memory_gib * gib * use))
    masters = max(3, by_cpu, by_memory)
    partitions = masters  # one partition per master: the stream load spreads like the cache
    stream_bytes = partitions * 1_000_000 * entry_bytes  # STREAM_MAXLEN per partition
    needed = math.ceil(args.events_per_second / (worker_events * use))
    print(
        f"\nscale-out ({args.installs_per_day:,.0f} installs/day, "
        f"{args.events_per_second:,.0f} events/s at peak):"
    )
    print(
        f"  measured on a local Redis Cluster: {cluster['redis_us_per_event']:.0f} us of Redis "
        f"server CPU per event = {shard_events:,.0f} events/s per master core; worker "
        f"{cluster['worker_us_per_event']:.0f} us CPU per event = {worker_events:,.0f} events/s "
        f"per core (one worker {cluster['cluster_rate']:,.0f} events/s over "
        f"{cluster['partitions']:.0f} partitions vs {cluster['single_rate']:,.0f} on one Redis)"
    )
    print(
        f"  masters: {by_cpu} for the stream CPU, {by_memory} for the cache at "
        f"{args.master_memory_gib:g} GiB each -> {masters} masters (+1 replica each), "
        f"STREAM_PARTITIONS={partitions}, {needed + 1} worker processes of one core "
        f"({needed} needed + 1 so that one can fail; every one reads every partition)"
    )
    print(
        f"  Redis memory: {cache_bytes / gib:.1f} GiB of cache + streams at STREAM_MAXLEN "
        f"1,000,000 per partition of each kind {stream_bytes / gib:.1f} GiB = "
        f"{(cache_bytes + stream_bytes) / partitions / gib:.1f} GiB per master"
    )
    print(
        f"  Postgres: daily partitions of {rows_per_day * row_bytes / gib:.0f} GiB "
        f"({rows_per_day:,.0f} rows), {args.retention_days} kept = "
        f"{rows_per_day * row_bytes * args.retention_days / gib / 1024:.1f} TiB"
    )


if __name__ == "__main__":
    main()
