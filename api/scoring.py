"""Scoring validated records for /predict, and the scored-stream entry of each prediction.

`score` is all a request does; `scored_entry` runs later in the publisher thread, so encoding the
stream entry costs the request nothing. The start-up warm-up runs the same code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from adapters.stream import encode_scored

SOURCE = "api"


class Scored(NamedTuple):
    """What the scored stream needs of one prediction, kept until the publisher encodes it."""

    answer: dict[str, Any]
    record: Mapping[str, Any]
    created_at: datetime


def score(
    predictor, records: Sequence[Mapping[str, Any]], request_id: str, batch: bool
) -> tuple[list[dict[str, Any]], list[Scored]]:
    """Predict every record; returns the answers and what to publish about them.

    In a batch each prediction's id is `<request_id>:<index>`, which is also its event_id.
    """
    version = predictor.version
    created_at = datetime.now(UTC)
    answers: list[dict[str, Any]] = []
    scored: list[Scored] = []
    for index, record in enumerate(records):
        prediction = predictor.predict_one(record)
        answer = {
            "user_id": record.get("user_id"),
            "predicted_revenue": prediction.predicted_revenue,
            "lower": prediction.lower,
            "upper": prediction.upper,
            "stage": prediction.stage,
            "model_version": version,
            "request_id": f"{request_id}:{index}" if batch else request_id,
        }
        answers.append(answer)
        scored.append(Scored(answer, record, created_at))
    return answers, scored


def scored_entry(item: Scored) -> dict[str, str]:
    """The scored-stream fields of one prediction (raises ValueError if it cannot be encoded,
    e.g. NaN bounds from a bundle without intervals)."""
    answer = item.answer
    return encode_scored(
        {
            "event_id": answer["request_id"],
            "user_id": answer["user_id"],
            "source": SOURCE,
            "stage": answer["stage"],
            "input": item.record,
            "predicted_revenue": answer["predicted_revenue"],
            "lower": answer["lower"],
            "upper": answer["upper"],
            "model_version": answer["model_version"],
            "created_at": item.created_at,
        }
    )
