"""Service endpoints: /model, /healthz, /readyz, /metrics and /openapi.json."""

from __future__ import annotations

import functools

import orjson
from flask import Blueprint, Response, current_app
from sqlalchemy import text

from api.endpoints import Endpoint
from api.errors import json_response
from api.schemas import Health, ModelInfo, Readiness
from api.services import current_services

blueprint = Blueprint("meta", __name__)
OPENAPI_KEY = "d7.openapi"
"""`app.config` key of the serialised OpenAPI document (built once per app)."""
SERVICE = "service"
"""The tag of these endpoints in the OpenAPI document."""
service_endpoint = functools.partial(Endpoint, method="GET", tag=SERVICE)
MODEL_CARD = service_endpoint(
    rule="/model", summary="The model card", responses={200: ("Model version and card", ModelInfo)}
)
HEALTHZ = service_endpoint(
    rule="/healthz", summary="Liveness (no I/O)", responses={200: ("Alive", Health)},
    public=True, usual=(200,),
)  # fmt: skip
READYZ = service_endpoint(
    rule="/readyz",
    summary="Readiness: model loaded, Redis and Postgres reachable",
    responses={200: ("Ready", Readiness), 503: ("A dependency failed", Readiness)},
    public=True,
    usual=(200, 503),
)
METRICS = service_endpoint(
    rule="/metrics", summary="Prometheus metrics",
    responses={200: ("Text exposition format", "text/plain")}, public=True,
)  # fmt: skip
OPENAPI = Endpoint(method="GET", rule="/openapi.json", documented=False)


@MODEL_CARD.route(blueprint)
def model_card():
    services = current_services()
    predictor = services.predictor
    return json_response(
        {
            "model_version": predictor.version,
            "source": services.model_source,
            "card": predictor.card,
        }
    )


@HEALTHZ.route(blueprint)
def healthz():
    return Response(b'{"status":"ok"}', mimetype="application/json")


def _check(probe) -> str:
    try:
        probe()
    except Exception as error:  # any failure means not ready; say which
        return f"error: {type(error).__name__}: {error}"[:300]
    return "ok"


def _ping_database(engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


@READYZ.route(blueprint)
def readyz():
    services = current_services()
    checks = {
        "model": "ok" if services.predictor is not None else "error: not loaded",
        "redis": _check(services.redis.ping),
        "database": _check(lambda: _ping_database(services.engine)),
    }
    ready = all(value == "ok" for value in checks.values())
    body = {"status": "ready" if ready else "unavailable", "checks": checks}
    return json_response(body, 200 if ready else 503)


@METRICS.route(blueprint)
def metrics():
    payload, content_type = current_services().metrics.exposition()
    return Response(payload, content_type=content_type)


@OPENAPI.route(blueprint)
def openapi():
    document = current_app.config[OPENAPI_KEY]
    return Response(document, mimetype="application/json")


def serialised_openapi(document: dict) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_INDENT_2)
