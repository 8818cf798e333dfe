"""The one place where the API's outside systems are built and wired together.

`build_services` runs inside `create_app`, that is in each server process after the fork, so
every process has its own model, Redis pools, database pool and publisher thread. Tests pass
fakes (fakeredis, an SQLite engine, a small predictor) instead of URLs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis as redis_lib
from sqlalchemy import Engine

from adapters import connections
from adapters.cache import PredictionCache
from adapters.gauges import GaugeBoard, GaugeCollector
from adapters.jobs import batch_queue
from adapters.model_source import load_predictor
from adapters.settings import Settings
from adapters.store import PredictionStore
from adapters.stream_partitions import PartitionedStream, StreamLayout
from api.metrics import ApiMetrics
from api.publisher import PublishCounters, StreamPublisher
from api.scoring import scored_entry, user_of
from scorer.prediction import FLAGS_FIELD
from scorer.predictor import PredictorLike

log = logging.getLogger(__name__)


class MetricsCounters(PublishCounters):
    """Publisher events as Prometheus metrics."""

    def __init__(self, metrics: ApiMetrics):
        self.metrics = metrics

    def published(self, count: int) -> None:
        self.metrics.published.inc(count)

    def failed(self) -> None:
        self.metrics.publish_failures.inc()

    def dropped(self, count: int, reason: str) -> None:
        self.metrics.publish_dropped.labels(reason).inc(count)

    def buffered(self, size: int) -> None:
        self.metrics.publish_buffered.set(size)


@dataclass
class Services:
    settings: Settings
    predictor: PredictorLike
    model_source: dict[str, Any]  # where the model came from (adapters.model_source)
    redis: Any
    engine: Engine
    cache: PredictionCache
    store: PredictionStore
    installs: PartitionedStream
    outcomes: PartitionedStream
    publisher: StreamPublisher
    metrics: ApiMetrics
    batch_queue: Any  # rq.Queue of batch scoring jobs

    def count_predictions(self, answers: list[dict]) -> None:
        by_stage = self.metrics.predictions_by_stage
        by_flag = self.metrics.predictions_by_flag
        for answer in answers:
            by_stage[answer["stage"]].inc()
            for flag in answer[FLAGS_FIELD]:
                by_flag[flag].inc()

    def connect_thread(self) -> None:
        """Open the calling thread's cache connection now (best effort: a Redis that is down
        is not an error here; the first read retries)."""
        try:
            self.cache.redis.ping()
        except Exception as error:
            log.warning("cache connection not opened: %s", error)

    def close(self) -> None:
        """Send what is still buffered, then release connections (server shutdown)."""
        self.publisher.close()
        self.engine.dispose()


class PerThreadRedis:
    """A Redis client per thread, each holding its own connection, for the per-user cache reads.

    A cache hit is little more than one GET, so the client's per-command work shows: a pooled
    client checks a connection out and back in for every command, polling its socket each time,
    and wraps the command in its retry and observability layers (retries are off here). `get`
    sends the command on the thread's own connection instead, for about 0.7x the CPU per GET
    (bench/cache_read_bench.py). Request threads live as long as their process, so each keeps
    one connection. Other attributes are the calling thread's client's.
    """

    def __init__(self, factory: Callable[[], redis_lib.Redis]):
        self._factory = factory
        self._local = threading.local()

    def client(self) -> redis_lib.Redis:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self._factory()
        return client

    def get(self, key: str) -> bytes | None:
        """GET on this thread's connection, which connects on first use and after a failure.

        A socket error or timeout disconnects it and raises (ConnectionError, TimeoutError);
        the next call reconnects. An error reply raises ResponseError.
        """
        connection = self.client().connection
        connection.send_command("GET", key)
        return connection.read_response()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client(), name)


def build_services(
    settings: Settings,
    predictor=None,
    redis=None,
    engine: Engine | None = None,
    start_publisher: bool = True,
) -> Services:
    metrics = ApiMetrics()
    if predictor is None:
        predictor, model_source = load_predictor(settings)
    else:
        model_source = {"kind": "injected"}
    request_redis = cache_redis = publisher_redis = jobs_redis = redis
    if redis is None:
        request_redis = connections.redis_client(settings, connections.REQUEST)
        publisher_redis = connections.redis_client(settings, connections.PUBLISHER)
        jobs_redis = connections.rq_connection(settings, connections.REQUEST)
        cache_redis = (
            request_redis  # a cluster client: a pool per node, shared by the threads
            if settings.redis_cluster
            else PerThreadRedis(
                lambda: connections.redis_client(
                    settings, connections.REQUEST, single_connection=True
                )
            )
        )
    if engine is None:
        engine = connections.database_engine(settings, connections.REQUEST)
    layout = StreamLayout.of(settings)
    services = Services(
        settings=settings,
        predictor=predictor,
        model_source=model_source,
        redis=request_redis,
        engine=engine,
        cache=PredictionCache(cache_redis, settings.cache_prefix, settings.cache_ttl_seconds),
        store=PredictionStore(engine),
        installs=PartitionedStream(
            request_redis, settings.installs_stream, layout, settings.stream_maxlen
        ),
        outcomes=PartitionedStream(
            request_redis, settings.outcomes_stream, layout, settings.stream_maxlen
        ),
        publisher=None,  # type: ignore[arg-type]
        metrics=metrics,
        batch_queue=batch_queue(jobs_redis, settings.rq_queue),
    )
    services.publisher = StreamPublisher(
        publisher_redis,
        settings.scored_stream,
        settings.stream_maxlen,
        services.settings.publish_buffer_size,
        MetricsCounters(metrics),
        encode=scored_entry,
        layout=layout,
        user_of=user_of,
    )
    metrics.add_shared(GaugeCollector(GaugeBoard(request_redis)))
    if start_publisher:
        services.publisher.start()
    return services


EXTENSION = "d7"
"""Key of the `Services` in `app.extensions`."""
WARM_UP = "d7.warm_up"
"""WSGI environ key of the start-up warm-up requests: they publish nothing and count nowhere."""


def current_services() -> Services:
    """The services of the app handling the current request."""
    from flask import current_app

    return current_app.extensions[EXTENSION]
