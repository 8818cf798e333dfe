"""The OpenAPI 3.1 document of the API, written from the endpoint declarations (`api.endpoints`).

Operations, parameters and statuses come from the declarations of the views the app serves and
every schema from the pydantic models they name, so the document cannot drift from what the
endpoints do. Built once per app: the batch limits and whether a key is required are settings.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from adapters.settings import Settings
from api.endpoints import API_KEY_HEADER, JSON, Endpoint, Schema, query_parameters
from api.schemas import ErrorBody

REF = "#/components/schemas/{model}"
UNAUTHORIZED = (f"Missing or wrong {API_KEY_HEADER}", ErrorBody)
"""The answer every endpoint but the public ones adds when a key is required."""


def _models(schema: Schema) -> tuple[type[BaseModel], ...]:
    if isinstance(schema, tuple):
        return schema
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return (schema,)
    return ()


def _json_schema(schema: Schema) -> Any:
    """A model as a reference, several as `anyOf` references, a raw schema as it is."""
    if isinstance(schema, tuple):
        return {"anyOf": [_json_schema(model) for model in schema]}
    if isinstance(schema, type):
        return {"$ref": REF.format(model=schema.__name__)}
    return schema


def _content(schema: Schema) -> dict[str, Any]:
    if isinstance(schema, str):  # a non-JSON media type
        return {schema: {"schema": {"type": "string"}}}
    return {JSON: {"schema": _json_schema(schema)}}


def _operation(endpoint: Endpoint, settings: Settings) -> dict[str, Any]:
    needs_key = settings.api_key is not None and not endpoint.public
    responses = dict(endpoint.responses)
    if needs_key:
        responses[401] = UNAUTHORIZED
    operation: dict[str, Any] = {
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "operationId": f"{endpoint.method.lower()}_{endpoint.path.strip('/')}".replace("/", "_")
        .replace("{", "")
        .replace("}", ""),
        "responses": {
            str(status): {"description": description}
            | ({"content": _content(schema)} if schema is not None else {})
            for status, (description, schema) in responses.items()
        },
        "security": [{"ApiKey": []}] if needs_key else [],
    }
    description = endpoint.description
    if callable(description):
        description = description(settings)
    if description:
        operation["description"] = description
    parameters = [parameter.openapi() for parameter in endpoint.parameters]
    if endpoint.query is not None:
        parameters += query_parameters(endpoint.query)
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body is not None:
        content = endpoint.body.content(settings)
        operation["requestBody"] = {
            "required": True,
            "content": {kind: {"schema": _json_schema(s)} for kind, s in content.items()},
        }
    return operation


def _schema_models(endpoints: list[Endpoint], settings: Settings) -> list[type[BaseModel]]:
    """Every model an operation names, once each, in the order they are met."""
    models: dict[type[BaseModel], None] = {}
    for endpoint in endpoints:
        if endpoint.body is not None:
            for schema in endpoint.body.content(settings).values():
                models.update(dict.fromkeys(_models(schema)))
        for _, schema in endpoint.responses.values():
            models.update(dict.fromkeys(_models(schema)))
    models.update(dict.fromkeys(_models(UNAUTHORIZED[1])))
    return list(models)


def build_openapi(endpoints: Iterable[Endpoint], settings: Settings, version: str) -> dict:
    """The whole document for the documented `endpoints` under one configuration."""
    documented = [endpoint for endpoint in endpoints if endpoint.documented]
    _, definitions = models_json_schema(
        [(model, "validation") for model in _schema_models(documented, settings)],
        ref_template=REF,
    )
    paths: dict[str, dict] = {}
    for endpoint in documented:
        operation = _operation(endpoint, settings)
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "D7 revenue prediction API",
            "version": version,
            "description": "Real-time D7 revenue predictions for mobile-game installs, per-user "
            "lookups, install-event intake, batch scoring jobs, and the outcomes that close the "
            "loop: actual D7 revenue in, calibration report out.",
        },
        "paths": paths,
        "components": {
            "schemas": definitions["$defs"],
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}
            },
        },
    }
