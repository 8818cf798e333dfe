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
from adapters.stream import EventStream
from worker.consumer import StreamWorker, default_consumer_name
from worker.handler import BatchHandler


def streams(
    settings: Settings, client: redis.Redis
) -> tuple[EventStream, EventStream, EventStream]:
    """The install-events, scored and dead-letter streams."""
    return (
        EventStream(client, settings.installs_stream, settings.stream_maxlen),
        EventStream(client, settings.scored_stream, settings.stream_maxlen),
        EventStream(client, settings.dead_letter_stream, settings.stream_maxlen),
    )


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
    installs, scored, dead = streams(settings, client)
    handler = BatchHandler(
        predictor,
        PredictionStore(engine),
        PredictionCache(client, settings.cache_prefix, settings.cache_ttl_seconds),
        installs,
        scored,
        dead,
        settings.consumer_group,
        settings.max_deliveries,
    )
    return StreamWorker(
        handler,
        [installs, scored],
        settings.consumer_group,
        consumer or default_consumer_name(),
        batch_size=settings.worker_batch_size,
        block_ms=settings.worker_block_ms,
        claim_idle_ms=settings.claim_idle_ms,
        maintenance=partition_maintenance(engine, settings),
    )
