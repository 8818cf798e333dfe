"""The one place that builds the worker's objects (clients, adapters, handler) from Settings."""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from adapters.cache import PredictionCache
from adapters.settings import Settings
from adapters.store import PredictionStore, make_engine
from adapters.stream import EventStream
from worker.consumer import StreamWorker, default_consumer_name
from worker.handler import BatchHandler


def redis_client(settings: Settings, block_ms: int | None = None) -> redis.Redis:
    """A client whose read timeout outlasts a blocking XREADGROUP; retries once (a connection
    dropped by a restart), the worker's own backoff does the rest."""
    block_ms = settings.worker_block_ms if block_ms is None else block_ms
    return redis.Redis.from_url(
        settings.redis_url,
        socket_timeout=block_ms / 1000 + 10,
        socket_connect_timeout=3,
        health_check_interval=30,
        retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 1),
    )


def database_engine(settings: Settings):
    """The worker's engine: two connections (one per thread), no pre-ping. A ping is a round trip
    per batch; a connection dropped by a restart fails its statement instead, SQLAlchemy then
    replaces the pool's connections, and the worker retries the batch after its backoff. A
    statement stuck behind another transaction's lock fails the same way after
    WORKER_STATEMENT_TIMEOUT_MS, so a stop request is never held up by it for longer."""
    return make_engine(
        settings.database_url,
        statement_timeout_ms=settings.worker_statement_timeout_ms,
        pool_size=2,
        pool_pre_ping=False,
    )


def load_predictor(settings: Settings):
    """The model of MODEL_DIR, or of MODEL_URI (the MLflow registry) when that is set."""
    from adapters.model_source import load_predictor as load

    return load(settings).predictor


def streams(
    settings: Settings, client: redis.Redis
) -> tuple[EventStream, EventStream, EventStream]:
    """The install-events, scored and dead-letter streams."""
    return (
        EventStream(client, settings.installs_stream, settings.stream_maxlen),
        EventStream(client, settings.scored_stream, settings.stream_maxlen),
        EventStream(client, settings.dead_letter_stream, settings.stream_maxlen),
    )


def build_worker(
    settings: Settings,
    predictor=None,
    client: redis.Redis | None = None,
    engine=None,
    consumer: str | None = None,
) -> StreamWorker:
    """A StreamWorker for `settings`; pass clients or a predictor to reuse or replace them."""
    predictor = predictor if predictor is not None else load_predictor(settings)
    client = client if client is not None else redis_client(settings)
    engine = engine if engine is not None else database_engine(settings)
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
    )
