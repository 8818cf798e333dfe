"""Per-user prediction cache in Redis: one JSON value per user under `prefix + user_id`.

Written by the worker, the rq batch jobs and the API's Postgres fallback; read by the API.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson

from adapters.stream import is_cluster
from scorer.prediction import View, iso_timestamp, view_builder, view_names

CACHE_FIELDS = view_names(View.CACHE)
"""Keys of a cached prediction, in the order they are written (the CACHE view of `Prediction`)."""

cache_value = view_builder(View.CACHE, {float: float, datetime: iso_timestamp})
cache_value.__doc__ = """The cached form of a prediction or a `predictions` row (also what GET
/users/<id>/prediction answers). A renamed value is taken under its cached name if present
(`scored_at`), else its declared one (`created_at`: datetime or ISO text), else now."""


SET_MANY_PAGE = 1000
"""Keys written per script call (Redis runs nothing else while a script runs)."""

_SET_EACH = """
for i, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[i], 'EX', ARGV[#ARGV])
end
return #KEYS
"""
"""SET key value EX ttl for every key, in order, in one command: one SET per key in a pipeline
costs redis-py far more CPU, packing and parsing each command (`cache` and `send+ack` in
bench/worker_stages.py). The keys of one call must live in one slot: on a Redis Cluster each
call holds one key, and the cluster pipeline sends each to its node."""


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
        raw = self.get_json(user_id)
        return None if raw is None else json.loads(raw)

    def get_json(self, user_id: str) -> bytes | None:
        """The cached prediction as the JSON text it was stored as (for serving it unchanged)."""
        return self.redis.get(self.key(user_id))

    def set(self, prediction: Mapping[str, Any]) -> int:
        """Cache one prediction; returns 1 if cached, 0 if it has no user_id."""
        return self.set_many([prediction])

    def set_many(self, predictions: Iterable[Mapping[str, Any]], pipeline=None) -> int:
        """Cache many predictions in one round trip; returns how many were written.

        Later entries win over earlier ones for the same user, so pass them in time order. With
        `pipeline` the writes are only queued on it, for the caller to send with other commands.
        """
        keys, values = [], []
        for prediction in predictions:
            if prediction.get("user_id"):
                keys.append(self.key(prediction["user_id"]))
                values.append(orjson.dumps(cache_value(prediction)))
        if not keys:
            return 0
        pipe = pipeline if pipeline is not None else self.redis.pipeline(transaction=False)
        size = 1 if is_cluster(self.redis) else SET_MANY_PAGE  # a cluster: one key per script
        for start in range(0, len(keys), size):
            page = slice(start, start + size)
            # EVAL by name: a cluster pipeline has no `eval` method, but routes the command
            pipe.execute_command(
                "EVAL", _SET_EACH, len(keys[page]), *keys[page], *values[page], self.ttl_seconds
            )
        if pipeline is None:
            pipe.execute()
        return len(keys)
