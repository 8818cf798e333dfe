"""POST endpoints that append validated items to a Redis stream and answer 202 (events, outcomes)."""

from __future__ import annotations

from flask import Response
from redis.exceptions import RedisError

from api.endpoints import BAD_BODY, Endpoint, OneOrBatch
from api.errors import json_response, unavailable
from api.schemas import ErrorBody, EventsAccepted


def append_endpoint(
    rule: str, tag: str, body: OneOrBatch, *, summary: str, done: str, retry: str, description=""
) -> Endpoint:
    """The declaration of a stream-append endpoint: `done` describes the 202, `retry` the 503."""
    responses = {202: (done, EventsAccepted), **BAD_BODY, 503: (retry, ErrorBody)}
    return Endpoint(
        method="POST", rule=rule, summary=summary, tag=tag, description=description, body=body,
        responses=responses, usual=(202, 422),
    )  # fmt: skip


def append_accepted(stream, entries: list, what: str) -> tuple[Response, int]:
    """Append `(key, fields)` entries to `stream`: the 202 answer and how many were appended;
    503 naming `what` when Redis fails."""
    try:
        ids = stream.append_many(entries)
    except RedisError as error:
        raise unavailable(what, type(error).__name__) from None
    return json_response({"ids": ids, "count": len(ids)}, 202), len(ids)
