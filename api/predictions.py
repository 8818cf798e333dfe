"""POST /predict and GET /users/<user_id>/prediction."""

from __future__ import annotations

import logging
import os

import orjson
from flask import Blueprint, Response, request
from pydantic import ValidationError
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from adapters.cache import cache_value
from api.body import json_body
from api.errors import ApiError, invalid_field, json_response, unavailable, validation_failed
from api.schemas import InstallRecord, batch_models
from api.scoring import predict_request
from api.services import WARM_UP, current_services

log = logging.getLogger(__name__)
blueprint = Blueprint("predictions", __name__)
MAX_USER_ID = 64


@blueprint.post("/predict")
def predict():
    services = current_services()
    body = json_body(request, services.settings.max_body_bytes)
    batch = isinstance(body, dict) and "instances" in body
    try:
        if batch:
            model = batch_models(services.settings.batch_limit)[0]
            records = [item.model_dump() for item in model.model_validate(body).instances]
        else:
            records = [InstallRecord.model_validate(body).model_dump()]
    except ValidationError as error:
        raise validation_failed(error) from None
    request_id = os.urandom(16).hex()
    answers, predictions = predict_request(services.predictor, records, request_id, batch)
    if not request.environ.get(WARM_UP):
        services.publisher.publish(predictions)
        services.count_predictions(answers)
    if not batch:
        return json_response(answers[0], headers={"X-Request-ID": request_id})
    body = dict(  # the fields of PredictionBatch, in its order
        request_id=request_id, model_version=services.predictor.version, predictions=answers
    )
    return json_response(body, headers={"X-Request-ID": request_id})


@blueprint.get("/users/<user_id>/prediction")
def user_prediction(user_id: str):
    services = current_services()
    user_id = user_id.strip()
    if not user_id or len(user_id) > MAX_USER_ID:
        raise invalid_field("user_id", f"must be 1 to {MAX_USER_ID} characters")
    redis_up = True
    try:
        cached = services.cache.get_json(user_id)
        if cached is not None:
            orjson.loads(cached)  # served as stored, once known to be JSON
    except (RedisError, ValueError) as error:
        log.warning("cache read failed for %r: %s", user_id, error)
        cached, redis_up = None, not isinstance(error, RedisError)
    if cached is not None:  # the worker stored exactly the JSON this endpoint returns
        return Response(cached, mimetype="application/json")
    try:
        row = services.store.latest_for_user(user_id)
    except SQLAlchemyError as error:
        raise unavailable("the predictions database", type(error).__name__) from None
    if row is None:
        raise ApiError(404, "not_found", f"no prediction for user {user_id!r}")
    value = cache_value(row)
    if redis_up:
        try:
            services.cache.set(value)
        except RedisError as error:
            log.warning("cache refill failed for %r: %s", user_id, error)
    return json_response(value)
