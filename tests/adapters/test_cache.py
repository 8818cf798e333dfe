import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from redis.cluster import RedisCluster

from adapters.cache import (
    CACHE_FIELDS,
    KEYS_PER_CALL,
    PredictionCache,
    cache_value,
    one_key_per_script,
)

T0 = datetime(2025, 1, 2, 9, tzinfo=UTC)


def at(minutes: float) -> str:
    """The cached text of the event time `minutes` after T0."""
    return (T0 + timedelta(minutes=minutes)).isoformat()


def prediction(user_id, revenue=1.5, **extra):
    return {
        "user_id": user_id,
        "predicted_revenue": revenue,
        "lower": 0.5,
        "upper": 3.0,
        "stage": "install",
        "model_version": "v1",
        "flags": [],
        "scored_at": "2025-01-02T03:04:05+00:00",
        "source": "stream",
        "event_id": f"e-{user_id}-{revenue}",
        "event_time": at(0),
        **extra,
    }


@pytest.fixture(params=[None, 1], ids=["client-default", "key-per-call"])
def per_call(request):
    """Keys per script call: the client's default (a page of KEYS_PER_CALL on a plain Redis, one
    on a cluster), or one (forced, as on a cluster)."""
    return request.param


def test_set_many_then_get_returns_the_contract_fields(client, per_call):
    cache = PredictionCache(client, prefix="p:", ttl_seconds=100, keys_per_call=per_call)
    written = cache.set_many([prediction("a"), prediction("b", 2.0), prediction(None)])
    assert written == 2
    assert cache.get("a") == prediction("a")
    assert tuple(cache.get("b")) == CACHE_FIELDS
    assert cache.get("b")["predicted_revenue"] == 2.0
    assert cache.get("nobody") is None
    assert json.loads(client.get("p:a"))["user_id"] == "a"


def test_values_expire_after_the_ttl(client, per_call):
    cache = PredictionCache(client, prefix="p:", ttl_seconds=1000, keys_per_call=per_call)
    cache.set(prediction("a"))
    assert 990 <= client.ttl("p:a") <= 1000


def test_the_newer_event_wins_whatever_the_order_of_writes(client, per_call):
    cache = PredictionCache(client, prefix="p:", keys_per_call=per_call)
    early_events = prediction("a", 7.0, stage="early_events", event_time=at(60))
    install = prediction("a", 1.0, event_time=at(0))
    assert cache.set(early_events) == 1
    assert cache.set(install) == 0  # older: refused
    assert cache.get("a") == early_events
    assert cache.set(prediction("a", 9.0, event_time=at(61))) == 1
    assert cache.get("a")["predicted_revenue"] == 9.0


def test_every_order_of_a_users_predictions_ends_with_the_newest(client, per_call):
    cache = PredictionCache(client, prefix="p:", keys_per_call=per_call)
    times = [at(0), at(0.5), "2025-01-02T09:00:00.000001+00:00", at(30)]
    offered = [prediction("a", float(i), event_time=time) for i, time in enumerate(times)]
    tie = prediction("a", 5.0, event_id="e-zz", event_time=at(30))  # same time, greater id
    for order in itertools.permutations([*offered, tie]):
        client.delete("p:a")
        for one in order:
            cache.set(one)
        assert cache.get("a") == tie
    for order in itertools.permutations(offered):  # all in one call
        client.delete("p:a")
        cache.set_many(order)
        assert cache.get("a")["predicted_revenue"] == 3.0


def test_a_value_without_an_event_time_is_older_than_any(client, per_call):
    cache = PredictionCache(client, prefix="p:", keys_per_call=per_call)
    client.set("p:a", json.dumps({"user_id": "a", "predicted_revenue": 4.0}))
    assert cache.set(prediction("a", 1.0)) == 1
    assert cache.get("a")["predicted_revenue"] == 1.0


def test_an_equal_prediction_is_written_again_and_refreshes_the_ttl(client, per_call):
    cache = PredictionCache(client, prefix="p:", ttl_seconds=1000, keys_per_call=per_call)
    cache.set(prediction("a"))
    client.expire("p:a", 10)
    assert cache.set(prediction("a")) == 1
    assert client.ttl("p:a") > 10


def recorded_script_keys(fake_redis) -> list[int]:
    """Records the number of keys of each script call sent through `fake_redis`'s pipelines."""
    sent = []
    real_pipeline = fake_redis.pipeline

    def recording_pipeline(*args, **kwargs):
        pipe = real_pipeline(*args, **kwargs)
        real_command = pipe.execute_command  # what `eval` sends through, and EVAL by name

        def command(name, *rest, **options):
            if name.upper() == "EVAL":
                sent.append(rest[1])  # EVAL script numkeys key... arg...
            return real_command(name, *rest, **options)

        pipe.execute_command = command
        return pipe

    fake_redis.pipeline = recording_pipeline
    return sent


def test_set_many_sends_one_script_call_per_page_of_users(fake_redis):
    sent = recorded_script_keys(fake_redis)
    cache = PredictionCache(fake_redis)
    assert cache.keys_per_call == KEYS_PER_CALL
    assert cache.set_many([prediction("a", 1.0), prediction("b"), prediction("a", 2.0)]) == 2
    assert sent == [2]
    assert cache.get("a")["predicted_revenue"] == 2.0 and cache.get("b") == prediction("b")


def test_pages_write_each_user_their_own_newest_value(fake_redis):
    sent = recorded_script_keys(fake_redis)
    cache = PredictionCache(fake_redis, keys_per_call=2)
    cache.set(prediction("u3", 9.0, event_time=at(10)))  # newer than the one offered below
    offered = [prediction(f"u{i}", float(i)) for i in range(5)]
    assert cache.set_many(offered) == 4
    assert sent == [1, 2, 2, 1]
    for i in (0, 1, 2, 4):
        assert cache.get(f"u{i}") == offered[i]
    assert cache.get("u3")["predicted_revenue"] == 9.0


def test_set_many_sends_one_single_key_script_per_user_when_forced(fake_redis):
    sent = recorded_script_keys(fake_redis)
    cache = PredictionCache(fake_redis, keys_per_call=1)
    assert cache.set_many([prediction("a", 1.0), prediction("b"), prediction("a", 2.0)]) == 2
    assert sent == [1, 1]
    assert cache.get("a")["predicted_revenue"] == 2.0 and cache.get("b") == prediction("b")


def test_a_cluster_client_gets_one_key_per_script_call(fake_redis):
    cluster = RedisCluster.__new__(RedisCluster)  # not connected: only its type is asked
    assert one_key_per_script(cluster) and not one_key_per_script(fake_redis)
    assert PredictionCache(cluster).keys_per_call == 1
    with pytest.raises(ValueError, match="keys_per_call: a Redis Cluster takes one key"):
        PredictionCache(cluster, keys_per_call=2)


def test_a_bad_event_time_fails_the_call_and_writes_nothing(fake_redis):
    cache = PredictionCache(fake_redis)
    with pytest.raises(Exception, match="event_time: not an ISO 8601 time"):
        cache.set_many([prediction("a"), prediction("b", event_time="yesterday")])
    assert fake_redis.keys("prediction:*") == []


def test_set_many_uses_one_round_trip(fake_redis):
    calls = []
    real_pipeline = fake_redis.pipeline

    def counting_pipeline(*args, **kwargs):
        calls.append(kwargs)
        return real_pipeline(*args, **kwargs)

    fake_redis.pipeline = counting_pipeline
    PredictionCache(fake_redis).set_many(prediction(str(i)) for i in range(50))
    assert len(calls) == 1
    assert len(fake_redis.keys("prediction:*")) == 50


def test_cache_value_takes_scored_at_from_created_at_of_a_row():
    from datetime import datetime

    row = prediction("a", scored_at=None, created_at=datetime(2025, 1, 1, 12), input={"x": 1})
    value = cache_value(row)
    assert tuple(value) == CACHE_FIELDS
    assert value["scored_at"] == "2025-01-01T12:00:00+00:00"


def test_cache_value_writes_times_in_utc():
    from datetime import timezone

    paris = timezone(timedelta(hours=2))
    row = prediction("a", event_time=datetime(2025, 1, 1, 12, tzinfo=paris))
    assert cache_value(row)["event_time"] == "2025-01-01T10:00:00+00:00"
