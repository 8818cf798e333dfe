"""The one place that builds the worker's objects (clients, adapters, handler) from Settings."""

from __future__ import annotations

import logging

import redis
from sqlalchemy.exc import SQLAlchemyError

from adapters import connections, partitions
from adapters.cache import PredictionCache
from adapters.model_source import load_predictor
from adapters.settings import Settings
from adapters.store import PredictionStore
from adapters.stream_partitions import PartitionedStream, StreamLayout
from worker.consumer import StreamWorker, default_consumer_name
from worker.handler import BatchHandler


def consumed_kinds(settings: Settings) -> list[str]:
    """The stream kinds the worker consumes, each partitioned the same way (STREAM_PARTITIONS)."""
    return [settings.installs_stream, settings.scored_stream]


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


def build_worker(
    settings: Settings,
    predictor=None,
    client: redis.Redis | None = None,
    engine=None,
    consumer: str | None = None,
) -> StreamWorker:
    """A StreamWorker for `settings`; pass clients or a predictor to reuse or replace them."""
    predictor = predictor if predictor is not None else load_predictor(settings).predictor
    client = (
        client if client is not None else connections.redis_client(settings, connections.WORKER)
    )
    engine = (
        engine if engine is not None else connections.database_engine(settings, connections.WORKER)
    )
    kinds, dead = streams(settings, client)
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
    )
    return StreamWorker(
        handler,
        [stream for kind in kinds.values() for stream in kind.partitions],
        settings.consumer_group,
        consumer or default_consumer_name(),
        batch_size=settings.worker_batch_size,
        block_ms=settings.worker_block_ms,
        claim_idle_ms=settings.claim_idle_ms,
        maintenance=partition_maintenance(engine, settings),
    )
