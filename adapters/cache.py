"""Per-user prediction cache in Redis: one JSON value per user under `prefix + user_id`.

Written by the worker, the rq batch jobs and the API's Postgres fallback; read by the API. A
value is replaced only by a newer prediction (a later event time, ties broken by event id), so
the answer for a user never moves backwards, whatever order predictions arrive in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson

from scorer.prediction import (
    EVENT_TIME,
    KEY,
    View,
    iso_timestamp,
    recency,
    view_builder,
    view_names,
)

CACHE_FIELDS = view_names(View.CACHE)
"""Keys of a cached prediction, in the order they are written (the CACHE view of `Prediction`)."""

cache_value = view_builder(View.CACHE, {float: float, datetime: iso_timestamp})
cache_value.__doc__ = """The cached form of a prediction or a `predictions` row (also what GET
/users/<id>/prediction answers). A renamed value is taken under its cached name if present
(`scored_at`), else its declared one (`created_at`: datetime or ISO text), else now. Times are
UTC ISO 8601 text."""

SET_IF_NEWER = f"""
local function moment(text)
  local day, clock, fraction = string.match(text, '^(%d%d%d%d%-%d%d%-%d%d)T(%d%d:%d%d:%d%d)%.?(%d*)')
  if day then return day .. clock .. fraction .. string.rep('0', 9 - #fraction) end
end
local new = moment(ARGV[3])
if not new then return redis.error_reply('{EVENT_TIME}: not an ISO 8601 time: ' .. ARGV[3]) end
local held = redis.call('GET', KEYS[1])
if held then
  local ok, value = pcall(cjson.decode, held)
  if ok and type(value) == 'table' and type(value.{EVENT_TIME}) == 'string' then
    local old = moment(value.{EVENT_TIME})
    if old and (old > new or (old == new and tostring(value.{KEY}) > ARGV[4])) then
      return 0
    end
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
"""
"""Compare-and-set of one user's key: ARGV is the value, the TTL, its event time and its event
id. The value is written unless the one held is newer (its event time later, or equal with a
greater event id); a held value without an event time (written before there was one) is older
than any. Event times are UTC ISO 8601 (`iso_timestamp`), read here as fixed-width digits. One
key per call, so it runs on Redis Cluster too (the keys of a batch are in many slots)."""


class PredictionCache:
    """Newest prediction per user, with a TTL; entries without a user_id are not cached."""

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
        """Cache one prediction unless a newer one is cached; returns 1 if it was written."""
        return self.set_many([prediction])

    def set_many(self, predictions: Iterable[Mapping[str, Any]], pipeline=None) -> int:
        """Offer each user's newest prediction of `predictions` to the cache, where it replaces
        an older one only (any order of calls and of predictions gives the same result).

        One compare-and-set script call per user, pipelined in one round trip. Returns how
        many were written; with `pipeline` the calls are only queued on it, for the caller to
        send with other commands, and the number queued is returned.
        """
        newest: dict[str, Mapping[str, Any]] = {}
        for prediction in predictions:
            user_id = prediction.get("user_id")
            if not user_id:
                continue
            held = newest.setdefault(user_id, prediction)
            if held is not prediction and recency(prediction) >= recency(held):
                newest[user_id] = prediction
        if not newest:
            return 0
        pipe = pipeline if pipeline is not None else self.redis.pipeline(transaction=False)
        for user_id, prediction in newest.items():
            value = cache_value(prediction)
            pipe.eval(
                SET_IF_NEWER,
                1,
                self.key(user_id),
                orjson.dumps(value),
                self.ttl_seconds,
                value[EVENT_TIME],
                value[KEY],
            )
        if pipeline is None:
            return sum(pipe.execute())
        return len(newest)
