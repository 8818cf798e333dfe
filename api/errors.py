"""Every error the API answers with, as one JSON shape: `{"error", "message", "details"?}`.

Bad input is always a 4xx: malformed JSON 400, missing/wrong API key 401, unknown resource 404,
body too large 413, wrong content type 415, schema violations 422 (one detail per field).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from flask import Flask, Response
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

MAX_DETAILS = 100
"""At most this many field errors are listed (a huge invalid batch still gets a short answer)."""


class ApiError(Exception):
    """An error answer: HTTP status, a stable machine-readable code and a message."""

    def __init__(
        self, status: int, error: str, message: str, details: list[dict] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.error, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return body


def _message(error: dict) -> str:
    message = error["msg"]
    return message.removeprefix("Value error, ")


def field_name(location: tuple, prefix: tuple = ()) -> str:
    """`("instances", 3, "event_1")` -> `instances.3.event_1`; the whole body is `body`."""
    parts = [str(part) for part in (*prefix, *location)]
    return ".".join(parts) if parts else "body"


def validation_failed(error: ValidationError, prefix: tuple = ()) -> ApiError:
    """422 with one entry per offending field, in input order."""
    errors = error.errors(include_url=False, include_input=False)
    details = [
        {"field": field_name(item["loc"], prefix), "message": _message(item)}
        for item in errors[:MAX_DETAILS]
    ]
    more = len(errors) - len(details)
    message = f"{len(errors)} invalid field(s)" + (f", first {MAX_DETAILS} listed" if more else "")
    return ApiError(422, "validation_error", message, details)


def invalid_field(field: str, message: str) -> ApiError:
    return ApiError(
        422, "validation_error", f"invalid {field}", [{"field": field, "message": message}]
    )


def unavailable(what: str, error: Exception | str) -> ApiError:
    """503: a server the endpoint needs is down (not the client's fault, worth a retry)."""
    return ApiError(503, "service_unavailable", f"{what} is unavailable: {error}")


def json_response(body: Any, status: int = 200, headers: dict | None = None) -> Response:
    """A JSON response serialised with orjson (NaN and infinities become null)."""
    return Response(orjson.dumps(body), status=status, headers=headers, mimetype="application/json")


def _http_code(exception: HTTPException) -> str:
    return (exception.name or "error").lower().replace(" ", "_").replace("-", "_")


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def api_error(error: ApiError):
        headers = {"Retry-After": "1"} if error.status == 503 else None
        return json_response(error.body(), error.status, headers)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        body = {"error": _http_code(error), "message": error.description or error.name}
        response = json_response(body, error.code or 500)
        if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(Exception)
    def unexpected(error: Exception):
        log.exception("unhandled error")
        body = {"error": "internal_error", "message": "unexpected error; it has been logged"}
        return json_response(body, 500)
