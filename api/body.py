"""Reading request bodies: content type (415), size (413), JSON syntax (400).

orjson parses the common case; the standard library takes over only for what orjson refuses but
JSON allows (integers beyond 64 bits), so every valid JSON document reaches validation.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from flask import Request

from api.errors import ApiError


def is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


def unsupported_media_type(expected: str) -> ApiError:
    return ApiError(415, "unsupported_media_type", f"Content-Type must be {expected}")


def check_size(request: Request, limit: int) -> None:
    """413 before reading anything when the declared length is over the limit.

    The same limit is set on the request, so an undeclared (chunked) body is cut off there too.
    """
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "payload_too_large", f"request body is over {limit} bytes")


def read_body(request: Request, limit: int) -> bytes:
    """The raw body, at most `limit` bytes (413 beyond).

    A body without Content-Length (chunked) is read from the server's stream up to one byte
    past the limit, which tells a body of exactly `limit` bytes from a longer one.
    """
    check_size(request, limit)
    if request.content_length is not None or not request.environ.get("wsgi.input_terminated"):
        return request.get_data(cache=False)
    stream = request.environ["wsgi.input"]
    chunks, size = [], 0
    while size <= limit:
        chunk = stream.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise ApiError(413, "payload_too_large", f"request body is over {limit} bytes")
    return b"".join(chunks)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(data: bytes) -> Any:
    """A JSON document, or 400."""
    if not data.strip():
        raise ApiError(400, "bad_request", "request body is empty; expected a JSON document")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        reason = str(error)
    try:  # e.g. integers beyond 64 bits, which orjson does not take
        return json.loads(data, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ApiError(400, "bad_request", f"malformed JSON: {reason}") from None


def json_body(request: Request, limit: int) -> Any:
    """The request's JSON body after the content-type and size checks."""
    environ = request.environ
    mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
    if not is_json(mimetype):
        raise unsupported_media_type("application/json")
    declared = environ.get("CONTENT_LENGTH", "")
    if declared.isdigit():  # the common case: read straight from the server's stream
        length = int(declared)
        if length > limit:
            raise ApiError(413, "payload_too_large", f"request body is over {limit} bytes")
        return parse_json(environ["wsgi.input"].read(length))
    return parse_json(read_body(request, limit))
