"""Per-user prediction cache in Redis: one JSON value per user under `prefix + user_id`.

Written by the worker, the rq batch jobs and the API's Postgres fallback; read by the API.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

CACHE_FIELDS = (
    "user_id",
    "predicted_revenue",
    "lower",
    "upper",
    "stage",
    "model_version",
    "scored_at",
    "source",
)
"""Keys of a cached prediction, in the order they are written."""


def iso_timestamp(value: datetime | str | None) -> str:
    """ISO 8601 text of a timestamp; naive datetimes are taken as UTC, None means now."""
    if value is None:
        value = datetime.now(UTC)
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


def cache_value(prediction: Mapping[str, Any]) -> dict[str, Any]:
    """The cached form of a prediction or a `predictions` row.

    `scored_at` is taken from `scored_at`, else `created_at` (datetime or ISO text), else now.
    """
    scored_at = prediction.get("scored_at") or prediction.get("created_at")
    return {
        "user_id": prediction["user_id"],
        "predicted_revenue": float(prediction["predicted_revenue"]),
        "lower": float(prediction["lower"]),
        "upper": float(prediction["upper"]),
        "stage": prediction["stage"],
        "model_version": prediction["model_version"],
        "scored_at": iso_timestamp(scored_at),
        "source": prediction["source"],
    }


class PredictionCache:
    """Latest prediction per user, with a TTL; entries without a user_id are not cached."""

    def __init__(self, redis, prefix: str = "prediction:", ttl_seconds: int = 691200):
        self.redis = redis
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds

    def key(self, user_id: str) -> str:
        return f"{self.prefix}{user_id}"

    def get(self, user_id: str) -> dict[str, Any] | None:
        """The cached prediction of `user_id`, or None when absent or expired."""
        raw = self.redis.get(self.key(user_id))
        return None if raw is None else json.loads(raw)

    def set(self, prediction: Mapping[str, Any]) -> int:
        """Cache one prediction; returns 1 if cached, 0 if it has no user_id."""
        return self.set_many([prediction])

    def set_many(self, predictions: Iterable[Mapping[str, Any]], pipeline=None) -> int:
        """Cache many predictions in one pipeline round trip; returns how many were written.

        Later entries win over earlier ones for the same user, so pass them in time order. With
        `pipeline` the SETs are only queued on it, for the caller to send with other commands.
        """
        pipe = pipeline if pipeline is not None else self.redis.pipeline(transaction=False)
        written = 0
        for prediction in predictions:
            if not prediction.get("user_id"):
                continue
            value = orjson.dumps(cache_value(prediction))
            # plain SET ... EX: redis-py's set() adds an argument check costing as much again
            pipe.execute_command(
                "SET", self.key(prediction["user_id"]), value, "EX", self.ttl_seconds
            )
            written += 1
        if written and pipeline is None:
            pipe.execute()
        return written
