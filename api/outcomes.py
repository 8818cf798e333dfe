"""POST /outcomes: users' actual D7 revenue, validated and appended to the outcomes stream."""

from __future__ import annotations

from flask import Blueprint
from redis.exceptions import RedisError

from adapters.outcomes import encode_outcome
from api.endpoints import BAD_BODY, Endpoint, Items, OneOrBatch
from api.errors import json_response, unavailable
from api.schemas import ErrorBody, EventsAccepted, outcome_batch_model
from api.services import Services
from scorer.outcome import OutcomeRecord

blueprint = Blueprint("outcomes", __name__)
APPEND_OUTCOMES = Endpoint(
    method="POST",
    rule="/outcomes",
    summary="Append outcomes (actual D7 revenue) to the outcomes stream",
    tag="monitoring",
    description='One outcome, or `{"outcomes": [...]}`. The worker stores one outcome per '
    "user: the same one again changes nothing, a different one replaces it and records when.",
    body=OneOrBatch(OutcomeRecord, "outcomes", outcome_batch_model),
    responses={
        202: ("Appended; the worker stores them", EventsAccepted),
        **BAD_BODY,
        503: ("Redis is unavailable; retry (outcomes are idempotent)", ErrorBody),
    },
    usual=(202, 422),
)


@APPEND_OUTCOMES.route(blueprint)
def append_outcomes(services: Services, payload: Items):
    outcomes, _ = payload
    entries = [(outcome.user_id, encode_outcome(outcome.model_dump())) for outcome in outcomes]
    try:
        ids = services.outcomes.append_many(entries)
    except RedisError as error:
        raise unavailable("the outcomes stream (Redis)", type(error).__name__) from None
    return json_response({"ids": ids, "count": len(ids)}, 202)
