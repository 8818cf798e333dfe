"""Endpoint declarations: one per endpoint, registering its view and describing it for OpenAPI.

An `Endpoint` holds everything about an endpoint (rule, method, summary, tag, body, path
parameters with their limits, query parameters as a pydantic model, every status, whether it
needs the API key). `Endpoint.route`
registers the view so that path parameters are checked and the body parsed before it runs;
`api.openapi` writes the document from the declarations of the views the app serves, so what is
served and what is documented cannot part. The declarations are module constants and the
handlers are built when the blueprints are defined, so a request pays for its checks and one
extra call (none where there is nothing to check, e.g. /healthz).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from flask import Blueprint, Flask, Request, request
from pydantic import BaseModel, TypeAdapter, ValidationError

from adapters.settings import Settings
from api.body import json_body
from api.errors import validation_failed
from api.schemas import ErrorBody
from api.services import current_services

JSON = "application/json"
API_KEY_HEADER = "X-API-Key"
"""The header that carries the API key, on every endpoint but the public ones."""
Schema = type[BaseModel] | tuple[type[BaseModel], ...] | dict | str | None
"""What a body or an answer holds: a model, any of several models, a raw JSON schema, a
non-JSON media type (a string body), or nothing."""
BAD_BODY: dict[int, tuple[str, Schema]] = {
    400: ("Malformed JSON", ErrorBody),
    413: ("Body over the size limit", ErrorBody),
    415: (f"Content-Type is not {JSON}", ErrorBody),
    422: ("Schema violation: one entry per offending field", ErrorBody),
}
"""The answers of any endpoint that reads a JSON body (`api.body`, `api.errors`)."""
RULE_VARIABLE = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
DECLARATION = "declaration"
"""Attribute of a registered view that holds its `Endpoint`."""


class Body(Protocol):
    """A request body: what it may contain (for OpenAPI) and how it is read and validated."""

    def content(self, settings: Settings) -> dict[str, Schema]: ...

    def parse(self, request: Request, settings: Settings) -> Any: ...


@dataclass(frozen=True)
class PathParameter:
    """A path parameter: `type` (an annotated str) is its documented schema, `parse` cleans the
    raw value or raises the endpoint's own error, from the same limits."""

    name: str
    type: Any
    parse: Callable[[str], Any]

    def openapi(self) -> dict[str, Any]:
        schema = TypeAdapter(self.type).json_schema()
        return {"name": self.name, "in": "path", "required": True, "schema": schema}


Items = tuple[list, bool]
"""A validated one-or-batch body: `(items, batch)`, batch telling whether they came as one
(a plain tuple: /predict builds one per request)."""


@dataclass(frozen=True)
class OneOrBatch:
    """A JSON body that is one `item`, or `{key: [item, ...]}` with 1..`settings.batch_limit`
    items (the model `batch(limit)` returns)."""

    item: type[BaseModel]
    key: str
    batch: Callable[[int], type[BaseModel]]

    def content(self, settings: Settings) -> dict[str, Schema]:
        return {JSON: (self.item, self.batch(settings.batch_limit))}

    def parse(self, request: Request, settings: Settings) -> Items:
        body = json_body(request, settings.max_body_bytes)
        try:
            if isinstance(body, dict) and self.key in body:
                model = self.batch(settings.batch_limit)
                return getattr(model.model_validate(body), self.key), True
            return [self.item.model_validate(body)], False
        except ValidationError as error:
            raise validation_failed(error) from None


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """One endpoint. `rule` is Flask's (`/users/<user_id>/prediction`); `responses` maps every
    status to its description and schema; `usual` are the statuses most requests get (their
    metric series exist from the start); `documented=False` keeps it out of /openapi.json. A
    description that depends on the settings (a limit) is a function of them."""

    method: str
    rule: str
    summary: str = ""
    tag: str = ""
    description: str | Callable[[Settings], str] = ""
    responses: Mapping[int, tuple[str, Schema]] = field(default_factory=dict)
    body: Body | None = None
    parameters: tuple[PathParameter, ...] = ()
    query: type[BaseModel] | None = None
    """The query string's parameters: the view gets them validated as `query=` (422 naming
    the parameter otherwise); for endpoints without a body."""
    public: bool = False
    documented: bool = True
    usual: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        named = {parameter.name for parameter in self.parameters}
        if self.documented and set(RULE_VARIABLE.findall(self.rule)) != named:
            raise ValueError(f"{self.rule}: declare exactly its path parameters, not {named}")
        if self.query is not None and self.body is not None:
            raise ValueError(f"{self.rule}: query parameters are for endpoints without a body")
        if not set(self.usual) <= set(self.responses):
            raise ValueError(f"{self.rule}: usual statuses {self.usual} are not all declared")

    @property
    def path(self) -> str:
        """The OpenAPI form of the rule (`/users/{user_id}/prediction`)."""
        return RULE_VARIABLE.sub(r"{\1}", self.rule)

    def route(self, blueprint: Blueprint) -> Callable[[Callable], Callable]:
        """Register the decorated view for this endpoint on `blueprint`.

        A view with path parameters gets them parsed; a view with a body gets the app's
        `Services` and the parsed body as its first two arguments. The view itself is returned
        unchanged.
        """

        def register(view: Callable) -> Callable:
            handler = _handler(view, self.parameters, self.body, self.query)
            setattr(handler, DECLARATION, self)
            blueprint.add_url_rule(self.rule, view.__name__, handler, methods=[self.method])
            return view

        return register


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The OpenAPI parameters of a query model: one per field; a list is comma-separated."""
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    parameters = []
    for name, field_schema in schema["properties"].items():
        parameter = {"name": name, "in": "query", "required": name in required}
        if "description" in field_schema:
            parameter["description"] = field_schema.pop("description")
        if field_schema.get("type") == "array":
            parameter |= {"style": "form", "explode": False}
        parameters.append(parameter | {"schema": field_schema})
    return parameters


def _parse_query(model: type[BaseModel]) -> BaseModel:
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as error:
        raise validation_failed(error) from None


def _handler(
    view: Callable,
    parameters: tuple[PathParameter, ...],
    body: Body | None,
    query: type[BaseModel] | None = None,
):
    """The function Flask calls: the view itself when there is nothing to parse."""
    if query is not None:

        def handler(**values):
            for parameter in parameters:
                values[parameter.name] = parameter.parse(values[parameter.name])
            return view(query=_parse_query(query), **values)

        return functools.wraps(view)(handler)
    if body is None and not parameters:
        return view
    if body is None:

        def handler(**values):
            for parameter in parameters:
                values[parameter.name] = parameter.parse(values[parameter.name])
            return view(**values)

    elif not parameters:  # the common case, kept lean: POST /predict takes this path
        parse = body.parse

        def handler():
            services = current_services()  # once per request: the view gets it too
            return view(services, parse(request, services.settings))

    else:
        parse = body.parse

        def handler(**values):
            for parameter in parameters:
                values[parameter.name] = parameter.parse(values[parameter.name])
            services = current_services()
            return view(services, parse(request, services.settings), **values)

    return functools.wraps(view)(handler)


def served_endpoints(app: Flask) -> dict[str, Endpoint]:
    """The declaration of every view `app` serves, by Flask endpoint name (in registration
    order); a view registered without a declaration is an error."""
    endpoints = {}
    for name, view in app.view_functions.items():
        endpoint = getattr(view, DECLARATION, None)
        if endpoint is None:
            raise RuntimeError(f"view {name!r} has no endpoint declaration")
        endpoints[name] = endpoint
    return endpoints
