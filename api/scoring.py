"""Scoring validated records for /predict and describing each prediction for the scored stream.

Kept apart from the route so the start-up warm-up runs exactly the code a request runs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from adapters.stream import encode_scored

log = logging.getLogger(__name__)

SOURCE = "api"


def score(
    predictor, records: Sequence[Mapping[str, Any]], request_id: str, batch: bool
) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Predict every record; returns the answers and their scored-stream entries.

    In a batch each prediction's id is `<request_id>:<index>`, which is also its event_id.
    """
    version = predictor.version
    created_at = datetime.now(UTC).isoformat()
    answers: list[dict[str, Any]] = []
    entries: list[dict[str, str]] = []
    for index, record in enumerate(records):
        prediction = predictor.predict_one(record)
        event_id = f"{request_id}:{index}" if batch else request_id
        answer = {
            "user_id": record.get("user_id"),
            "predicted_revenue": prediction.predicted_revenue,
            "lower": prediction.lower,
            "upper": prediction.upper,
            "stage": prediction.stage,
            "model_version": version,
            "request_id": event_id,
        }
        answers.append(answer)
        entry = scored_entry(answer, record, created_at)
        if entry is not None:
            entries.append(entry)
    return answers, entries


def scored_entry(
    answer: Mapping[str, Any], record: Mapping[str, Any], created_at: str
) -> dict[str, str] | None:
    """The scored-stream fields of one answer; None (logged) if it cannot be encoded."""
    try:
        return encode_scored(
            {
                "event_id": answer["request_id"],
                "user_id": answer["user_id"],
                "source": SOURCE,
                "stage": answer["stage"],
                "input": record,
                "predicted_revenue": answer["predicted_revenue"],
                "lower": answer["lower"],
                "upper": answer["upper"],
                "model_version": answer["model_version"],
                "created_at": created_at,
            }
        )
    except ValueError as error:  # e.g. a bundle without intervals gives NaN bounds
        log.error("prediction %s not published: %s", answer["request_id"], error)
        return None
