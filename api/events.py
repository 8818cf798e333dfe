"""POST /events: install events validated like /predict, appended to the install-events stream."""

from __future__ import annotations

from flask import Blueprint, request
from pydantic import ValidationError
from redis.exceptions import RedisError

from adapters.stream import encode_install_event
from api.body import json_body
from api.errors import json_response, unavailable, validation_failed
from api.schemas import InstallEvent, batch_models
from api.services import current_services

blueprint = Blueprint("events", __name__)


@blueprint.post("/events")
def append_events():
    services = current_services()
    body = json_body(request, services.settings.max_body_bytes)
    try:
        if isinstance(body, dict) and "events" in body:
            model = batch_models(services.settings.batch_limit)[1]
            events = model.model_validate(body).events
        else:
            events = [InstallEvent.model_validate(body)]
    except ValidationError as error:
        raise validation_failed(error) from None
    entries = [encode_install_event(e.model_dump(), e.event_id, e.sent_at) for e in events]
    try:
        ids = services.installs.append_many(entries)
    except RedisError as error:
        raise unavailable("the event stream (Redis)", type(error).__name__) from None
    services.metrics.events.inc(len(ids))
    return json_response({"ids": ids, "count": len(ids)}, 202)
