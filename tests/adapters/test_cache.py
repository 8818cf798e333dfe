import json

import pytest

from adapters.cache import CACHE_FIELDS, PredictionCache, cache_value

BACKENDS = [
    "fake_redis",
    pytest.param("redis_client", marks=pytest.mark.integration),
    pytest.param("redis_cluster_client", marks=pytest.mark.integration),
]


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
        **extra,
    }


@pytest.fixture(params=BACKENDS)
def client(request):
    return request.getfixturevalue(request.param)


def test_set_many_then_get_returns_the_contract_fields(client):
    cache = PredictionCache(client, prefix="p:", ttl_seconds=100)
    written = cache.set_many([prediction("a"), prediction("b", 2.0), prediction(None)])
    assert written == 2
    assert cache.get("a") == prediction("a")
    assert tuple(cache.get("b")) == CACHE_FIELDS
    assert cache.get("b")["predicted_revenue"] == 2.0
    assert cache.get("nobody") is None
    assert json.loads(client.get("p:a"))["user_id"] == "a"


def test_values_expire_after_the_ttl(client):
    cache = PredictionCache(client, prefix="p:", ttl_seconds=1000)
    cache.set(prediction("a"))
    assert 990 <= client.ttl("p:a") <= 1000


def test_later_prediction_for_the_same_user_wins(client):
    cache = PredictionCache(client, prefix="p:")
    cache.set_many([prediction("a", 1.0), prediction("a", 7.0)])
    assert cache.get("a")["predicted_revenue"] == 7.0


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


def test_set_many_over_several_script_pages_keeps_order_and_ttl(client, monkeypatch):
    monkeypatch.setattr("adapters.cache.SET_MANY_PAGE", 3)
    cache = PredictionCache(client, prefix="p:", ttl_seconds=500)
    written = cache.set_many(
        [prediction(str(i % 4), float(i)) for i in range(10)] + [prediction(None)]
    )
    assert written == 10
    assert [cache.get(str(u))["predicted_revenue"] for u in range(4)] == [8.0, 9.0, 6.0, 7.0]
    assert all(490 <= client.ttl(f"p:{u}") <= 500 for u in range(4))
    assert cache.set_many([]) == 0


def test_cache_value_takes_scored_at_from_created_at_of_a_row():
    from datetime import datetime

    row = prediction("a", scored_at=None, created_at=datetime(2025, 1, 1, 12), input={"x": 1})
    value = cache_value(row)
    assert tuple(value) == CACHE_FIELDS
    assert value["scored_at"] == "2025-01-01T12:00:00+00:00"
