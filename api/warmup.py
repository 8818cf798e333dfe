"""Warming a new app before it serves, so that its first request is about as fast as the next.

A fresh process pays on its first requests for what later ones reuse: connections, specialised
bytecode, caches, metric label sets. Warming runs the real request path through the WSGI app a
few dozen times (flagged so it publishes nothing and counts nowhere), opens the Redis and
database connections (best effort: a server that is down is not an error here) and creates the
metric series of the usual answers; the publisher encodes one entry (sent nowhere) and has Redis
compile its script.
"""

from __future__ import annotations

import io
import json
import logging
import time

from flask import Flask
from sqlalchemy import text
from werkzeug.test import EnvironBuilder

from api.endpoints import Endpoint, served_endpoints
from api.meta import HEALTHZ, MODEL_CARD
from api.predictions import PREDICT
from api.schemas import InstallRecord
from api.scoring import predict_request
from api.services import WARM_UP, Services

log = logging.getLogger(__name__)

ROUNDS = 30
"""Passes over the requests below: enough for CPython to specialise the hot bytecode."""
SAMPLES = (
    {"user_id": "warm-up", "country": "us", "platform": "iOS", "source": "Organic"},
    {
        "country": "es",
        "platform": "android",
        "device_family": "Samsung Galaxy Phone",
        "os_version": "10",
        "source": "Non-Organic",
        "event_1": 0,
        "event_2": 12,
        "event_3": 1,
    },
)
REQUESTS = (
    (PREDICT, SAMPLES[0]),
    (PREDICT, SAMPLES[1]),
    (PREDICT, {"instances": list(SAMPLES)}),
    (PREDICT, {"event_1": -1}),
    (HEALTHZ, None),
    (MODEL_CARD, None),
)
"""Requests without side effects (the flag stops /predict from publishing)."""


def _environ(endpoint: Endpoint, body) -> tuple[dict, bytes | None]:
    data = json.dumps(body).encode() if body is not None else None
    builder = EnvironBuilder(
        path=endpoint.rule,
        method=endpoint.method,
        data=data,
        content_type="application/json" if data else None,
        environ_overrides={WARM_UP: True},
    )
    return builder.get_environ(), data


def _run_requests(app: Flask) -> None:
    prepared = [_environ(*spec) for spec in REQUESTS]

    def start_response(status, headers, exc_info=None):
        return None

    for _ in range(ROUNDS):
        for environ, data in prepared:
            environ = dict(environ)
            if data is not None:
                environ["wsgi.input"] = io.BytesIO(data)
            body = app.wsgi_app(environ, start_response)
            b"".join(body)
            getattr(body, "close", lambda: None)()


def _select_one(engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _connect(services: Services) -> None:
    """Open the pools' first connections now rather than on the first request."""
    probes = {
        "redis": services.redis.ping,
        "publisher redis": services.publisher.redis.ping,
        "database": lambda: _select_one(services.engine),
    }
    for name, probe in probes.items():
        try:
            probe()
        except Exception as error:  # not ready yet: /readyz says so, requests retry
            log.warning("warm-up: %s not reachable: %s", name, error)


def _publisher(services: Services) -> None:
    """The publisher's encoding and script, which the flagged requests never reach."""
    record = InstallRecord.model_validate(SAMPLES[1]).model_dump()
    _, scored = predict_request(services.predictor, [record], "warm-up", batch=False)
    services.publisher.warm_up(scored[0])


def _metric_series(app: Flask, services: Services) -> None:
    """The series of each endpoint's usual answers, as its declaration lists them."""
    metrics = services.metrics
    for endpoint in served_endpoints(app).values():
        for status in endpoint.usual:
            metrics.requests.labels(endpoint.rule, endpoint.method, str(status))
            metrics.latency.labels(endpoint.rule, endpoint.method, str(status))


def warm_up(app: Flask, services: Services) -> float:
    """Warm the app; returns the seconds it took."""
    started = time.perf_counter()
    _connect(services)
    _metric_series(app, services)
    _run_requests(app)
    _publisher(services)
    seconds = time.perf_counter() - started
    log.info("warmed up in %.0f ms", seconds * 1000)
    return seconds
