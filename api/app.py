"""The app factory: `create_app(settings=None)` builds the Flask app and its services.

Called once per server process (gunicorn loads it in each worker after the fork, never with
--preload), so the model is loaded and warmed in the process that serves with it.
"""

from __future__ import annotations

import atexit
import hmac
import time

from flask import Flask, request
from sqlalchemy import Engine

from adapters.settings import Settings
from api import batch_jobs, docs, drift, events, meta, monitoring, outcomes, predictions
from api.endpoints import API_KEY_HEADER, served_endpoints
from api.errors import ApiError, register_error_handlers
from api.openapi import build_openapi
from api.services import EXTENSION, WARM_UP, Services, build_services
from api.warmup import warm_up

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
STARTED = "d7.started"


def create_app(
    settings: Settings | None = None,
    *,
    predictor=None,
    redis=None,
    engine: Engine | None = None,
    start_publisher: bool = True,
) -> Flask:
    """Build the app. Tests pass `predictor`, `redis` (fakeredis) or `engine` to replace the
    ones built from the settings, and `start_publisher=False` to drive the publisher by hand."""
    settings = settings or Settings()
    app = Flask(__name__, static_folder=None)  # the docs page serves its own files
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    services = build_services(settings, predictor, redis, engine, start_publisher)
    app.extensions[EXTENSION] = services
    if start_publisher:
        atexit.register(services.publisher.close)
    for module in (predictions, events, outcomes, monitoring, drift, batch_jobs, meta, docs):
        app.register_blueprint(module.blueprint)
    register_error_handlers(app)
    endpoints = served_endpoints(app)
    public = frozenset(name for name, endpoint in endpoints.items() if endpoint.public)
    _install_hooks(app, services, public)
    document = build_openapi(endpoints.values(), settings, str(services.predictor.version))
    app.config[meta.OPENAPI_KEY] = meta.serialised_openapi(document)
    warm_up(app, services)
    services.metrics.workers_ready.set(1)
    return app


def _install_hooks(app: Flask, services: Services, public: frozenset[str]) -> None:
    """The API-key check (every endpoint but the `public` ones) and the request metrics."""
    key = services.settings.api_key
    expected = key.encode() if key is not None else None
    metrics = services.metrics
    children: dict[tuple, tuple] = {}

    @app.before_request
    def check_api_key():
        request.environ[STARTED] = time.perf_counter()
        if expected is None or request.endpoint in public:
            return
        supplied = request.headers.get(API_KEY_HEADER, "").encode("utf-8", "replace")
        if not hmac.compare_digest(supplied, expected):
            raise ApiError(401, "unauthorized", f"missing or wrong {API_KEY_HEADER} header")

    @app.after_request
    def observe(response):
        started = request.environ.get(STARTED)
        if started is None or request.environ.get(WARM_UP):
            return response
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        method = request.method if request.method in METHODS else "other"
        labels = (rule, method, response.status_code)
        child = children.get(labels)
        if child is None:
            values = (rule, method, str(response.status_code))
            child = children[labels] = (
                metrics.requests.labels(*values),
                metrics.latency.labels(*values),
            )
        child[0].inc()
        child[1].observe(time.perf_counter() - started)
        return response
