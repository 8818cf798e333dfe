"""POST /events: install events validated like /predict, appended to the install-events stream."""

from __future__ import annotations

from flask import Blueprint
from redis.exceptions import RedisError

from adapters.stream import encode_install_event
from api.endpoints import BAD_BODY, Endpoint, Items, OneOrBatch
from api.errors import json_response, unavailable
from api.schemas import ErrorBody, EventsAccepted, InstallEvent, event_batch_model
from api.services import Services

blueprint = Blueprint("events", __name__)
APPEND_EVENTS = Endpoint(
    method="POST",
    rule="/events",
    summary="Append install events to the install-events stream",
    tag="events",
    body=OneOrBatch(InstallEvent, "events", event_batch_model),
    responses={
        202: ("Appended; the worker scores them", EventsAccepted),
        **BAD_BODY,
        503: ("Redis is unavailable; retry (event_id makes retries safe)", ErrorBody),
    },
    usual=(202, 422),
)


@APPEND_EVENTS.route(blueprint)
def append_events(services: Services, payload: Items):
    events, _ = payload
    entries = [
        (e.user_id, encode_install_event(e.model_dump(), e.event_id, e.sent_at)) for e in events
    ]
    try:
        ids = services.installs.append_many(entries)
    except RedisError as error:
        raise unavailable("the event stream (Redis)", type(error).__name__) from None
    services.metrics.events.inc(len(ids))
    return json_response({"ids": ids, "count": len(ids)}, 202)
