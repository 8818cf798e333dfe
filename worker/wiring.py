"""The one place that builds the worker's objects (clients, adapters, handler) from Settings."""

from __future__ import annotations

import logging

import redis
from sqlalchemy.exc import SQLAlchemyError

from adapters import connections, partitions
from adapters.cache import PredictionCache
from adapters.gauges import schedule_refresh
from adapters.jobs import batch_queue
from adapters.model_source import load_predictor
from adapters.outcomes import OutcomeStore, decode_outcome
from adapters.settings import Settings
from adapters.store import PredictionStore
from adapters.stream_partitions import PartitionedStream, StreamLayout
from worker.consumer import MAINTENANCE_SECONDS, Chore, StreamWorker, default_consumer_name
from worker.handler import BatchHandler, StreamKind


def consumed_kinds(settings: Settings) -> list[str]:
    """The stream kinds the worker consumes, each partitioned the same way (STREAM_PARTITIONS)."""
    return [settings.installs_stream, settings.scored_stream, settings.outcomes_stream]


def streams(
    settings: Settings, client: redis.Redis
) -> tuple[dict[str, PartitionedStream], PartitionedStream]:
    """Every partition of each consumed kind, by kind; and the dead-letter streams (partition
    i of a kind dead-letters to partition i of DEAD_LETTER_STREAM: one slot on a cluster)."""
    layout = StreamLayout.of(settings)
    kinds = {
        base: PartitionedStream(client, base, layout, settings.stream_maxlen)
        for base in consumed_kinds(settings)
    }
    dead = PartitionedStream(client, settings.dead_letter_stream, layout, settings.stream_maxlen)
    return kinds, dead


log = logging.getLogger(__name__)


def partition_maintenance(engine, settings: Settings):
    """The worker's hourly maintenance of the `predictions` partitions (`partitions.maintain`);
    a failure (a lock not granted in time, Postgres away) is logged and tried again next hour,
    never stopping the scoring."""

    def maintain() -> None:
        try:
            done = partitions.maintain(engine, settings.retention_days)
        except SQLAlchemyError as error:
            log.warning("partition maintenance failed, retried next hour: %s", error)
            return
        if done.created or done.dropped or done.expired_default_rows:
            log.info("partition maintenance: %s", done)

    return maintain


def outcome_kind(outcomes: PartitionedStream, engine) -> StreamKind:
    """The outcomes streams (every partition): each entry validated as an OutcomeRecord and
    upserted by user."""
    store = OutcomeStore(engine)
    return StreamKind(outcomes.partitions, decode_outcome, store.write, store.check)


def build_worker(
    settings: Settings,
    predictor=None,
    client: redis.Redis | None = None,
    engine=None,
    consumer: str | None = None,
) -> StreamWorker:
    """A StreamWorker for `settings`; pass clients or a predictor to reuse or replace them."""
    predictor = predictor if predictor is not None else load_predictor(settings).predictor
    jobs_redis = jobs_client(settings, client)
    client = (
        client if client is not None else connections.redis_client(settings, connections.WORKER)
    )
    engine = (
        engine if engine is not None else connections.database_engine(settings, connections.WORKER)
    )
    kinds, dead = streams(settings, client)
    outcomes = outcome_kind(kinds[settings.outcomes_stream], engine)
    handler = BatchHandler(
        predictor,
        PredictionStore(engine),
        PredictionCache(client, settings.cache_prefix, settings.cache_ttl_seconds),
        kinds[settings.installs_stream].partitions,
        kinds[settings.scored_stream].partitions,
        {
            stream.name: dead.partitions[index]
            for kind in kinds.values()
            for index, stream in enumerate(kind.partitions)
        },
        settings.consumer_group,
        settings.max_deliveries,
        kinds=[outcomes],
    )
    return StreamWorker(
        handler,
        [stream for kind in kinds.values() for stream in kind.partitions],
        settings.consumer_group,
        consumer or default_consumer_name(),
        batch_size=settings.worker_batch_size,
        block_ms=settings.worker_block_ms,
        claim_idle_ms=settings.claim_idle_ms,
        chores=(
            Chore(partition_maintenance(engine, settings), MAINTENANCE_SECONDS),
            Chore(monitoring_chore(settings, jobs_redis)),
        ),
    )


def jobs_client(settings: Settings, client: redis.Redis | None) -> redis.Redis:
    """The Redis of rq's queues: the given client when it is also theirs (a single Redis, no
    RQ_REDIS_URL), else rq's own plain Redis (rq does not support Cluster)."""
    if client is not None and not settings.redis_cluster and not settings.rq_redis_url:
        return client
    return connections.rq_connection(settings, connections.WORKER)


def monitoring_chore(settings: Settings, jobs_redis: redis.Redis):
    """Enqueue the monitoring gauges' refresh on the rq queue, once per interval across replicas
    (the once-per-interval key lives next to the queue, on rq's Redis)."""
    queue = batch_queue(jobs_redis, settings.rq_queue)
    return lambda: schedule_refresh(jobs_redis, queue, settings.monitoring_refresh_seconds)
