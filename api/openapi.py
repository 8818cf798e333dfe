"""The OpenAPI 3.1 document of the API, generated from the pydantic models in `api.schemas`.

Only the list of operations (path, method, models per status) is written here; every schema comes
from the models, so the document cannot drift from what the endpoints validate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api import schemas
from api.schemas import MAX_COUNT, NOT_BLANK, InstallRecord
from scorer.schema import COUNT_COLUMNS

REF = "#/components/schemas/{model}"
JSON = "application/json"
PUBLIC = frozenset({"/healthz", "/readyz", "/metrics"})
"""Paths that never require the API key (probes and scraping)."""


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    tag: str
    responses: dict[int, tuple[str, Any]]  # status -> (description, model | schema | None)
    body: dict[str, Any] = field(default_factory=dict)  # content type -> model | schema
    parameters: tuple[dict, ...] = ()
    description: str = ""


def _operations(predict_batch, event_batch, batch_job_limit: int) -> list[Operation]:
    error = schemas.ErrorBody
    job_list, job_body = schemas.batch_job_models(batch_job_limit)
    bad_body = {
        400: ("Malformed JSON", error),
        413: ("Body over the size limit", error),
        415: ("Content-Type is not application/json", error),
        422: ("Schema violation: one entry per offending field", error),
    }
    user_param = {
        "name": "user_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": NOT_BLANK},
    }
    job_param = {
        "name": "job_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,128}$"},
    }
    records_csv = {"type": "string", "description": "CSV with a header of record columns."}
    return [
        Operation(
            "post",
            "/predict",
            "Predict D7 revenue for one record or a batch",
            "predictions",
            {
                200: (
                    "Prediction(s)",
                    {"anyOf": [_ref(schemas.Prediction), _ref(schemas.PredictionBatch)]},
                ),
                **bad_body,
            },
            body={JSON: {"anyOf": [_ref(InstallRecord), _ref(predict_batch)]}},
            description='One install record, or `{"instances": [...]}`. Every prediction is '
            "also published to the scored stream, from which the worker stores it.",
        ),
        Operation(
            "get",
            "/users/{user_id}/prediction",
            "Latest prediction of a user",
            "predictions",
            {
                200: ("The user's latest prediction", schemas.UserPrediction),
                404: ("No prediction for this user", error),
                422: ("Invalid user id", error),
                503: ("Neither the cache nor Postgres could be read", error),
            },
            parameters=(user_param,),
            description="From the Redis cache; on a miss from the latest row in Postgres, "
            "which then refills the cache.",
        ),
        Operation(
            "post",
            "/events",
            "Append install events to the install-events stream",
            "events",
            {
                202: ("Appended; the worker scores them", schemas.EventsAccepted),
                **bad_body,
                503: ("Redis is unavailable; retry (event_id makes retries safe)", error),
            },
            body={JSON: {"anyOf": [_ref(schemas.InstallEvent), _ref(event_batch)]}},
        ),
        Operation(
            "post",
            "/batch-jobs",
            "Start a batch scoring job",
            "batch jobs",
            {
                202: ("Job queued", schemas.BatchJobAccepted),
                **bad_body,
                415: ("Not JSON, CSV or a multipart upload", error),
                503: ("The job queue (Redis) is unavailable", error),
            },
            body={
                JSON: {"anyOf": [_ref(job_list), _ref(job_body)]},
                "text/csv": records_csv,
                "multipart/form-data": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "contentMediaType": "text/csv"}},
                },
            },
            description=f"Up to {batch_job_limit} records as a JSON list, a CSV body or a CSV "
            "file upload (field `file`). Columns that are not record columns are ignored.",
        ),
        Operation(
            "get",
            "/batch-jobs/{job_id}",
            "Status of a batch scoring job",
            "batch jobs",
            {
                200: ("Status, progress and counts", schemas.BatchJobStatus),
                404: ("Unknown job", error),
                503: ("The job queue (Redis) is unavailable", error),
            },
            parameters=(job_param,),
        ),
        Operation(
            "get",
            "/model",
            "The model card",
            "service",
            {200: ("Model version and card", schemas.ModelInfo)},
        ),
        Operation(
            "get", "/healthz", "Liveness (no I/O)", "service", {200: ("Alive", schemas.Health)}
        ),
        Operation(
            "get",
            "/readyz",
            "Readiness: model loaded, Redis and Postgres reachable",
            "service",
            {200: ("Ready", schemas.Readiness), 503: ("A dependency failed", schemas.Readiness)},
        ),
        Operation(
            "get",
            "/metrics",
            "Prometheus metrics",
            "service",
            {200: ("Text exposition format", "text/plain")},
        ),
    ]


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _count_bounds(definitions: dict[str, Any]) -> None:
    """Counts are 0..MAX_COUNT: validators check it, which JSON Schema generation cannot see."""
    for definition in definitions.values():
        for name in COUNT_COLUMNS:
            for option in definition.get("properties", {}).get(name, {}).get("anyOf", []):
                if option.get("type") == "number":
                    option.update(minimum=0, maximum=MAX_COUNT)


def _content(schema: Any) -> dict[str, Any]:
    if isinstance(schema, str):  # a non-JSON media type
        return {schema: {"schema": {"type": "string"}}}
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        schema = _ref(schema)
    return {JSON: {"schema": schema}}


def _operation_object(op: Operation, secured: bool) -> dict[str, Any]:
    responses = {}
    for status, (description, schema) in op.responses.items():
        responses[str(status)] = {"description": description}
        if schema is not None:
            responses[str(status)]["content"] = _content(schema)
    if secured and op.path not in PUBLIC:
        responses["401"] = {
            "description": "Missing or wrong X-API-Key",
            "content": _content(schemas.ErrorBody),
        }
    document: dict[str, Any] = {
        "summary": op.summary,
        "tags": [op.tag],
        "responses": responses,
        "operationId": f"{op.method}_{op.path.strip('/')}".replace("/", "_")
        .replace("{", "")
        .replace("}", ""),
    }
    if op.description:
        document["description"] = op.description
    if op.parameters:
        document["parameters"] = list(op.parameters)
    if op.body:
        document["requestBody"] = {
            "required": True,
            "content": {
                kind: {"schema": _ref(s) if isinstance(s, type) else s}
                for kind, s in op.body.items()
            },
        }
    document["security"] = [{"ApiKey": []}] if secured and op.path not in PUBLIC else []
    return document


def build_openapi(batch_limit: int, batch_job_limit: int, secured: bool, version: str) -> dict:
    """The whole document for one configuration (batch limits, whether a key is required)."""
    predict_batch, event_batch = schemas.batch_models(batch_limit)
    models = [
        *schemas.batch_job_models(batch_job_limit),
        InstallRecord,
        predict_batch,
        schemas.InstallEvent,
        event_batch,
        schemas.Prediction,
        schemas.PredictionBatch,
        schemas.UserPrediction,
        schemas.EventsAccepted,
        schemas.ModelInfo,
        schemas.Health,
        schemas.Readiness,
        schemas.ErrorBody,
        schemas.BatchJobAccepted,
        schemas.BatchJobStatus,
    ]
    _, definitions = models_json_schema(
        [(model, "validation") for model in models], ref_template=REF
    )
    components = definitions["$defs"]
    _count_bounds(components)
    paths: dict[str, dict] = {}
    for op in _operations(predict_batch, event_batch, batch_job_limit):
        paths.setdefault(op.path, {})[op.method] = _operation_object(op, secured)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "D7 revenue prediction API",
            "version": version,
            "description": "Real-time D7 revenue predictions for mobile-game installs, per-user "
            "lookups, install-event intake and batch scoring jobs.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
        },
    }
