"""Stream worker throughput on a local Redis Cluster with partitioned streams, next to a
single Redis with one stream, in the same run.

    .venv/bin/python bench/cluster_worker_bench.py [--events 20000] [--rounds 3] [--partitions 2]

Starts a Redis Cluster of 3 masters and 3 replicas on private ports (tests/support/local_cluster.py),
fills a backlog of install events spread over `--partitions` partitions by user, and times one
`StreamWorker.run` with the real model over it; then the same over the machine's Redis (one
stream, today's names). Each round uses fresh keys and an emptied table. It also prints the
Redis server CPU per event summed over the cluster's masters (their own processes, so no other
load counts): what one shard's core sustains, for bench/capacity.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import redis
import sqlalchemy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from worker_bench import (  # noqa: E402
    CACHE_TTL,
    add_service_arguments,
    bench_services,
    database_engine,
    events,
    settings_for,
    timed,
)

from adapters.cache import PredictionCache  # noqa: E402
from adapters.stream_partitions import PartitionedStream, StreamLayout  # noqa: E402
from scorer.predictor import Predictor  # noqa: E402
from scorer.schema import InstallRecord  # noqa: E402
from worker.predictions import predict_events  # noqa: E402
from worker.wiring import build_worker  # noqa: E402

from support.local_cluster import LocalRedisCluster  # noqa: E402


def server_cpu_seconds(cluster: LocalRedisCluster) -> float:
    """CPU seconds used so far by the cluster's masters."""
    total = 0.0
    for port in cluster.live_ports():
        info = cluster.ask(port, "INFO", "ALL")
        if info["role"] == "master":
            total += info["used_cpu_user"] + info["used_cpu_sys"]
    return total


def cache_write_us(client, prefix: str, predictor, keys: int = 500, repeats: int = 20) -> float:
    """This process's CPU per key of `PredictionCache.set_many` over `keys` users' predictions
    (one script call for all on a single Redis, one per key on a cluster)."""
    cache = PredictionCache(client, prefix, CACHE_TTL)
    records = [InstallRecord(user_id=f"u{i}") for i in range(keys)]
    now = datetime.now(UTC)
    rows = predict_events(
        predictor, records, [f"e{i}" for i in range(keys)], [now] * keys, source="stream"
    )
    cache.set_many(rows)
    started = time.process_time()
    for _ in range(repeats):
        cache.set_many(rows)
    return (time.process_time() - started) / repeats / keys * 1e6


def best_rate(args, client, settings, predictor, fields, label, cluster=None) -> float:
    """Best events/s of `--rounds` runs of the worker over a backlog of `fields`."""
    engine = database_engine(settings)
    best = 0.0
    for round_ in range(args.rounds):
        part = settings.model_copy(
            update={
                name: f"{getattr(settings, name)}{round_}:"
                for name in ("installs_stream", "scored_stream", "dead_letter_stream")
            }
        )
        stream = PartitionedStream(client, part.installs_stream, StreamLayout.of(part), None)
        for start in range(0, len(fields), 1000):
            stream.append_many((f["user_id"], f) for f in fields[start : start + 1000])
        worker = build_worker(part, predictor, client, engine, consumer=f"bench-{round_}")
        redis_before = server_cpu_seconds(cluster) if cluster else 0.0
        outcomes = []
        wall, cpu = timed(lambda: outcomes.append(worker.run(max_messages=len(fields))))  # noqa: B023
        assert outcomes[0].acked == len(fields), outcomes[0]
        rate = len(fields) / wall
        extra = ""
        if cluster:
            redis_cpu = server_cpu_seconds(cluster) - redis_before
            extra = f", Redis masters {redis_cpu / len(fields) * 1e6:.0f} us CPU/event"
        print(
            f"  {label} round {round_ + 1}: {rate:,.0f} events/s "
            f"(worker {cpu / len(fields) * 1e6:.0f} us CPU/event{extra}), "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        best = max(best, rate)
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text("TRUNCATE predictions"))
    engine.dispose()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="backlog per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=500)
    add_service_arguments(parser)
    args = parser.parse_args()
    predictor = Predictor.load(args.model)
    fields = events(args.events, users=args.events // 2)
    cluster = LocalRedisCluster(Path(tempfile.mkdtemp(prefix="bench-cluster-"))).start()
    try:
        with bench_services(args) as (single, database_url, _, _):
            print(
                f"model {predictor.version}, {args.events:,} events, batch size "
                f"{args.batch_size}, {os.cpu_count()} cores"
            )
            base = settings_for(args, "cluster", database_url)
            on_cluster = base.model_copy(
                update={
                    "redis_url": cluster.url,
                    "redis_cluster": True,
                    "rq_redis_url": args.redis_url,
                    "stream_partitions": args.partitions,
                }
            )
            client = redis.RedisCluster.from_url(cluster.url)
            label = f"cluster, {args.partitions} partitions"
            on_cluster_rate = best_rate(args, client, on_cluster, predictor, fields, label, cluster)
            cluster_cache = cache_write_us(client, on_cluster.cache_prefix + "cpu:", predictor)
            client.close()
            single_settings = settings_for(args, "single", database_url)
            single_rate = best_rate(args, single, single_settings, predictor, fields, "single")
            single_cache = cache_write_us(single, single_settings.cache_prefix + "cpu:", predictor)
        print(
            f"best: single Redis, 1 stream {single_rate:,.0f} events/s; Redis Cluster (3 masters),"
            f" {args.partitions} partitions {on_cluster_rate:,.0f} events/s "
            f"= {on_cluster_rate / single_rate:.2f}x (one worker process)"
        )
        print(
            f"cache writes (500 users per call): single Redis {single_cache:.1f} us CPU per key, "
            f"cluster {cluster_cache:.1f} us CPU per key"
        )
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
