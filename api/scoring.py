"""Predicting validated records for /predict, and the scored-stream entry of each prediction.

`predict_request` is all a request does; `scored_entry` runs later in the publisher thread, so
encoding the stream entry costs the request nothing. The start-up warm-up runs the same code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from adapters.stream import encode_scored
from scorer.prediction import Prediction, View, make_prediction, view_builder
from scorer.predictor import PredictorLike

SOURCE = "api"

answer = view_builder(View.ANSWER)
"""The /predict answer for one prediction (`event_id` answered as `request_id`)."""


def predict_request(
    predictor: PredictorLike, records: Sequence[Mapping[str, Any]], request_id: str, batch: bool
) -> tuple[list[dict[str, Any]], list[Prediction]]:
    """Predict every record; returns the answers and the predictions to publish.

    In a batch each prediction's id is `<request_id>:<index>`, which is also its event_id; its
    event time is the request's time.
    """
    version = predictor.version
    created_at = datetime.now(UTC)
    answers: list[dict[str, Any]] = []
    predictions: list[Prediction] = []
    for index, record in enumerate(records):
        estimate = predictor.predict_one(record)
        prediction = make_prediction(
            event_id=f"{request_id}:{index}" if batch else request_id,
            user_id=record.get("user_id"),
            source=SOURCE,
            stage=estimate.stage,
            input=record,
            predicted_revenue=estimate.predicted_revenue,
            lower=estimate.lower,
            upper=estimate.upper,
            model_version=version,
            created_at=created_at,
            flags=estimate.flags,
            event_time=created_at,
        )
        answers.append(answer(prediction))
        predictions.append(prediction)
    return answers, predictions


def scored_entry(prediction: Prediction) -> dict[str, bytes]:
    """The scored-stream fields of one prediction (raises ValueError if it cannot be encoded,
    e.g. NaN bounds from a bundle without intervals)."""
    return encode_scored(prediction)


def user_of(prediction: Prediction) -> str | None:
    """The user whose partition of the scored stream a prediction goes to."""
    return prediction["user_id"]
