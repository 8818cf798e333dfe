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

from adapters.stream import is_cluster
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

KEYS_PER_CALL = 1000
"""Keys written per script call on a plain Redis (Redis runs nothing else while a script runs)."""

SET_IF_NEWER = f"""
local function moment(text)
  local day, clock, fraction = string.match(text, '^(%d%d%d%d%-%d%d%-%d%d)T(%d%d:%d%d:%d%d)%.?(%d*)')
  if day then return day .. clock .. fraction .. string.rep('0', 9 - #fraction) end
end
local new = {{}}
for i = 1, #KEYS do
  local at = ARGV[3 * i]
  new[i] = moment(at)
  if not new[i] then return redis.error_reply('{EVENT_TIME}: not an ISO 8601 time: ' .. at) end
end
local written = 0
for i, key in ipairs(KEYS) do
  local id = ARGV[3 * i + 1]
  local older = false
  local held = redis.call('GET', key)
  if held then
    local ok, value = pcall(cjson.decode, held)
    if ok and type(value) == 'table' and type(value.{EVENT_TIME}) == 'string' then
      local old = moment(value.{EVENT_TIME})
      older = old and (old > new[i] or (old == new[i] and tostring(value.{KEY}) > id))
    end
  end
  if not older then
    redis.call('SET', key, ARGV[3 * i - 1], 'EX', ARGV[1])
    written = written + 1
  end
end
return written
"""
"""Compare-and-set of each key of KEYS: ARGV is the TTL, then per key its value, event time and
event id. A value is written unless the one held is newer (its event time later, or equal with a
greater event id); a held value without an event time (written before there was one) is older
than any. Event times are UTC ISO 8601 (`iso_timestamp`), read here as fixed-width digits; one
that is not fails the call before anything is written. Returns how many keys were written.

One call may hold many keys only where they all live on one server, as on the single Redis of
REDIS_URL: one call per page of keys costs the worker far less CPU than one per key (packing and
parsing each command; bench/worker_stages.py). On Redis Cluster the keys of a batch are in many
slots, so there it is called with one key at a time."""


def one_key_per_script(client) -> bool:
    """Whether `client` needs each script call to touch one key only: a Redis Cluster client
    (the keys of one call must hash to one slot)."""
    return is_cluster(client)


class PredictionCache:
    """Newest prediction per user, with a TTL; entries without a user_id are not cached."""

    def __init__(
        self,
        redis,
        prefix: str = "prediction:",
        ttl_seconds: int = 691200,
        keys_per_call: int | None = None,
    ):
        """`keys_per_call`: keys per compare-and-set script call; by default 1 on a Redis
        Cluster client (`one_key_per_script`), else `KEYS_PER_CALL`."""
        self.redis = redis
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        if keys_per_call is None:
            keys_per_call = 1 if one_key_per_script(redis) else KEYS_PER_CALL
        elif keys_per_call > 1 and one_key_per_script(redis):
            raise ValueError("keys_per_call: a Redis Cluster takes one key per script call")
        self.keys_per_call = keys_per_call

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

        One compare-and-set script call per page of `keys_per_call` users (per user on a
        cluster), pipelined in one round trip. Returns how many were written; with `pipeline`
        the calls are only queued on it, for the caller to send with other commands, and the
        number queued is returned.
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
        keys, arguments = [], []
        for user_id, prediction in newest.items():
            value = cache_value(prediction)
            keys.append(self.key(user_id))
            arguments += (orjson.dumps(value), value[EVENT_TIME], value[KEY])
        pipe = pipeline if pipeline is not None else self.redis.pipeline(transaction=False)
        for start in range(0, len(keys), self.keys_per_call):
            page = keys[start : start + self.keys_per_call]
            values = arguments[3 * start : 3 * (start + len(page))]
            # EVAL by name: redis-py's cluster pipeline has no usable `eval`, but it routes an
            # EVAL to the node of its key like any command
            pipe.execute_command("EVAL", SET_IF_NEWER, len(page), *page, self.ttl_seconds, *values)
        if pipeline is None:
            return sum(pipe.execute())
        return len(newest)
