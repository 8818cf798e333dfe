"""GET /users/<user_id>/prediction: cache hit, database fallback with refill, 404, faults."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from adapters.cache import PredictionCache

from support.rows import prediction_row

CACHED = {
    "user_id": "u-7",
    "predicted_revenue": 1.25,
    "lower": 0.5,
    "upper": 3.0,
    "stage": "early_events",
    "model_version": "v-cache",
    "flags": [],
    "scored_at": "2024-05-01T10:00:00+00:00",
    "source": "stream",
    "event_id": "e-7",
    "event_time": "2024-05-01T09:59:00+00:00",
}


def stored_row(user_id: str, event_id: str, revenue: float, when: datetime) -> dict:
    return prediction_row(
        user_id,
        event_id,
        revenue,
        when,
        source="batch",
        model_version="v-db",
        flags=["anomalous_country_rate"],
    )


@pytest.fixture
def store(services):
    return services.store


def test_cache_hit(client, fake_client):
    PredictionCache(fake_client).set(CACHED)
    response = client.get("/users/u-7/prediction")
    assert response.status_code == 200
    assert response.get_json() == CACHED


def test_cache_miss_falls_back_to_latest_row_and_refills(client, fake_client, store):
    store.save_many(
        [
            stored_row("u-8", "e-old", 1.0, datetime(2024, 1, 1, tzinfo=UTC)),
            stored_row("u-8", "e-new", 2.0, datetime(2024, 2, 1, tzinfo=UTC)),
            stored_row("u-9", "e-other", 9.0, datetime(2024, 3, 1, tzinfo=UTC)),
        ]
    )
    assert fake_client.get("prediction:u-8") is None
    response = client.get("/users/u-8/prediction")
    assert response.status_code == 200
    body = response.get_json()
    assert body["predicted_revenue"] == 2.0
    assert body["source"] == "batch" and body["model_version"] == "v-db"
    assert datetime.fromisoformat(body["scored_at"]) == datetime(2024, 2, 1, tzinfo=UTC)
    refilled = json.loads(fake_client.get("prediction:u-8"))
    assert refilled == body
    assert 0 < fake_client.ttl("prediction:u-8") <= 691200


def test_unknown_user_is_404(client):
    response = client.get("/users/nobody/prediction")
    assert response.status_code == 404
    body = response.get_json()
    assert body["error"] == "not_found" and "nobody" in body["message"]


@pytest.mark.parametrize("user_id", ["x" * 65, "%20%20"])
def test_invalid_user_id_is_422(client, user_id):
    response = client.get(f"/users/{user_id}/prediction")
    assert response.status_code == 422
    assert response.get_json()["details"][0]["field"] == "user_id"


def test_corrupt_cache_value_falls_back_to_the_database(client, fake_client, store):
    fake_client.set("prediction:u-8", b"{not json")
    store.save_many([stored_row("u-8", "e-1", 4.0, datetime(2024, 1, 1, tzinfo=UTC))])
    response = client.get("/users/u-8/prediction")
    assert response.status_code == 200
    assert json.loads(fake_client.get("prediction:u-8"))["predicted_revenue"] == 4.0


def test_redis_down_still_answers_from_the_database(client, redis_server, store):
    store.save_many([stored_row("u-8", "e-1", 4.0, datetime(2024, 1, 1, tzinfo=UTC))])
    redis_server.connected = False
    response = client.get("/users/u-8/prediction")
    assert response.status_code == 200
    assert response.get_json()["predicted_revenue"] == 4.0
    assert client.get("/users/nobody/prediction").status_code == 404


def test_database_down_on_a_miss_is_503(make_app):
    client = make_app(database_url="sqlite:////nonexistent-dir/x.db").test_client()
    response = client.get("/users/u-1/prediction")
    assert response.status_code == 503
    assert response.get_json()["error"] == "service_unavailable"
    assert response.headers["Retry-After"] == "1"


def test_custom_cache_prefix(make_app, fake_client):
    client = make_app(cache_prefix="p2:").test_client()
    PredictionCache(fake_client, prefix="p2:").set(CACHED)
    assert client.get("/users/u-7/prediction").status_code == 200
