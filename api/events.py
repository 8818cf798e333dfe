"""POST /events: install events validated like /predict, appended to the install-events stream."""

from __future__ import annotations

from flask import Blueprint

from adapters.stream import encode_install_event
from api.appends import append_accepted, append_endpoint
from api.endpoints import Items, OneOrBatch
from api.schemas import InstallEvent, event_batch_model
from api.services import Services

APPEND_EVENTS = append_endpoint(
    "/events",
    "events",
    OneOrBatch(InstallEvent, "events", event_batch_model),
    summary="Append install events to the install-events stream",
    done="Appended; the worker scores them",
    retry="Redis is unavailable; retry (event_id makes retries safe)",
)
blueprint = Blueprint("events", __name__)


@APPEND_EVENTS.route(blueprint)
def append_events(services: Services, payload: Items):
    events, _ = payload
    entries = [
        (e.user_id, encode_install_event(e.model_dump(), e.event_id, e.sent_at)) for e in events
    ]
    response, count = append_accepted(services.installs, entries, "the event stream (Redis)")
    services.metrics.events.inc(count)
    return response
