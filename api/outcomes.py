"""POST /outcomes: users' actual D7 revenue, validated and appended to the outcomes stream."""

from __future__ import annotations

from flask import Blueprint

from adapters.outcomes import encode_outcome
from api.appends import append_accepted, append_endpoint
from api.endpoints import Items, OneOrBatch
from api.schemas import outcome_batch_model
from api.services import Services
from scorer.outcome import OutcomeRecord

blueprint = Blueprint("outcomes", __name__)
APPEND_OUTCOMES = append_endpoint(
    "/outcomes",
    "monitoring",
    OneOrBatch(OutcomeRecord, "outcomes", outcome_batch_model),
    summary="Append outcomes (actual D7 revenue) to the outcomes stream",
    done="Appended; the worker stores them",
    retry="Redis is unavailable; retry (outcomes are idempotent)",
    description='One outcome, or `{"outcomes": [...]}`. The worker stores one outcome per '
    "user: the same one again changes nothing, a different one replaces it and records when.",
)


@APPEND_OUTCOMES.route(blueprint)
def append_outcomes(services: Services, payload: Items):
    outcomes, _ = payload
    entries = [(outcome.user_id, encode_outcome(outcome.model_dump())) for outcome in outcomes]
    return append_accepted(services.outcomes, entries, "the outcomes stream (Redis)")[0]
