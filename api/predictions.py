"""POST /predict and GET /users/<user_id>/prediction."""

from __future__ import annotations

import logging
import os

import orjson
from flask import Blueprint, Response, request
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from adapters.cache import cache_value
from api.endpoints import BAD_BODY, Endpoint, Items, OneOrBatch, PathParameter
from api.errors import ApiError, invalid_field, json_response, unavailable
from api.schemas import (
    USER_ID_LENGTH,
    ErrorBody,
    InstallRecord,
    Prediction,
    PredictionBatch,
    UserId,
    UserPrediction,
    predict_batch_model,
)
from api.scoring import predict_request
from api.services import WARM_UP, Services, current_services

log = logging.getLogger(__name__)
blueprint = Blueprint("predictions", __name__)


def _user_id(value: str) -> str:
    user_id = value.strip()
    if not user_id or len(user_id) > USER_ID_LENGTH:
        raise invalid_field("user_id", f"must be 1 to {USER_ID_LENGTH} characters")
    return user_id


USER_ID = PathParameter("user_id", UserId, _user_id)
PREDICT = Endpoint(
    method="POST",
    rule="/predict",
    summary="Predict D7 revenue for one record or a batch",
    tag="predictions",
    description='One install record, or `{"instances": [...]}`. Every prediction is '
    "also published to the scored stream, from which the worker stores it.",
    body=OneOrBatch(InstallRecord, "instances", predict_batch_model),
    responses={200: ("Prediction(s)", (Prediction, PredictionBatch)), **BAD_BODY},
    usual=(200, 400, 422),
)
USER_PREDICTION = Endpoint(
    method="GET",
    rule="/users/<user_id>/prediction",
    summary="Latest prediction of a user",
    tag="predictions",
    description="From the Redis cache; on a miss from the latest row in Postgres, "
    "which then refills the cache.",
    parameters=(USER_ID,),
    responses={
        200: ("The user's latest prediction", UserPrediction),
        404: ("No prediction for this user", ErrorBody),
        422: ("Invalid user id", ErrorBody),
        503: ("Neither the cache nor Postgres could be read", ErrorBody),
    },
    usual=(200, 404),
)


@PREDICT.route(blueprint)
def predict(services: Services, payload: Items):
    items, batch = payload
    records = [item.model_dump() for item in items]
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


@USER_PREDICTION.route(blueprint)
def user_prediction(user_id: str):
    services = current_services()
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
