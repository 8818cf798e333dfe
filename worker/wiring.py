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
from adapters.stream import EventStream
from worker.consumer import MAINTENANCE_SECONDS, Chore, StreamWorker, default_consumer_name
from worker.handler import BatchHandler, StreamKind


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


def outcome_kind(settings: Settings, client: redis.Redis, engine) -> StreamKind:
    """The outcomes stream: each entry validated as an OutcomeRecord and upserted by user."""
    store = OutcomeStore(engine)
    stream = EventStream(client, settings.outcomes_stream, settings.stream_maxlen)
    return StreamKind(stream, decode_outcome, store.write, store.check)


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
    outcomes = outcome_kind(settings, client, engine)
    handler = BatchHandler(
        predictor,
        PredictionStore(engine),
        PredictionCache(client, settings.cache_prefix, settings.cache_ttl_seconds),
        installs,
        scored,
        dead,
        settings.consumer_group,
        settings.max_deliveries,
        kinds=[outcomes],
    )
    return StreamWorker(
        handler,
        [installs, scored, outcomes.stream],
        settings.consumer_group,
        consumer or default_consumer_name(),
        batch_size=settings.worker_batch_size,
        block_ms=settings.worker_block_ms,
        claim_idle_ms=settings.claim_idle_ms,
        chores=(
            Chore(partition_maintenance(engine, settings), MAINTENANCE_SECONDS),
            Chore(monitoring_chore(settings, client)),
        ),
    )


def monitoring_chore(settings: Settings, client: redis.Redis):
    """Enqueue the monitoring gauges' refresh on the rq queue, once per interval across replicas."""
    queue = batch_queue(client, settings.rq_queue)
    return lambda: schedule_refresh(client, queue, settings.monitoring_refresh_seconds)
