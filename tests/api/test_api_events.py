"""POST /events: validation like /predict, append to the install-events stream, 202 with ids."""

from __future__ import annotations

import pytest

from adapters.stream import decode_install_event
from scorer.schema import RECORD_COLUMNS, InstallRecord

from support.api import assert_refused_naming

EVENT = {"user_id": "u-1", "country": "DE", "platform": "android", "event_1": 2, "event_2": 0}


def stream_entries(fake_client, name="installs"):
    return [(entry_id.decode(), fields) for entry_id, fields in fake_client.xrange(name)]


def test_single_event_is_appended(client, fake_client):
    response = client.post(
        "/events", json={**EVENT, "event_id": "e-1", "sent_at": "2024-05-01T10:00:00Z"}
    )
    assert response.status_code == 202
    body = response.get_json()
    entries = stream_entries(fake_client)
    assert body == {"ids": [entries[0][0]], "count": 1}
    event = decode_install_event(entries[0][1])  # the worker's own decoder
    assert event.event_id == "e-1"
    assert event.sent_at.startswith("2024-05-01T10:00:00")
    assert set(event.record) == set(RECORD_COLUMNS)
    record = InstallRecord.model_validate(event.record)
    assert record.user_id == "u-1" and record.event_1 == 2 and record.event_3 is None
    assert record.stage == "early_events"


def test_batch_of_events_in_order(client, fake_client):
    events = [{**EVENT, "user_id": f"u-{i}"} for i in range(3)]
    response = client.post("/events", json={"events": events})
    assert response.status_code == 202
    ids = response.get_json()["ids"]
    entries = stream_entries(fake_client)
    assert ids == [entry_id for entry_id, _ in entries]
    users = [decode_install_event(fields).record["user_id"] for _, fields in entries]
    assert users == ["u-0", "u-1", "u-2"]


def test_event_without_optional_metadata(client, fake_client):
    assert client.post("/events", json={"user_id": "u-1"}).status_code == 202
    event = decode_install_event(stream_entries(fake_client)[0][1])
    assert event.event_id is None and event.sent_at is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"country": "US"}, "user_id"),
        ({"user_id": ""}, "user_id"),
        ({**EVENT, "event_1": -3}, "event_1"),
        ({**EVENT, "sent_at": "yesterday"}, "sent_at"),
        ({**EVENT, "sent_at": "2024-05-01T10:00:00"}, "sent_at"),
        ({**EVENT, "sent_at": "0001-01-01T00:00:00+01:00"}, "sent_at"),
        ({**EVENT, "sent_at": "9999-12-31T23:59:59-01:00"}, "sent_at"),
        ({**EVENT, "x": 1}, "x"),
        ({"events": [EVENT, {"country": "US"}]}, "events.1.user_id"),
        ({"events": []}, "events"),
    ],
)
def test_invalid_events_are_422(client, fake_client, body, field):
    assert_refused_naming(client.post("/events", json=body), field)
    assert fake_client.exists("installs") == 0


@pytest.mark.parametrize(
    ("path", "other_type", "body"),
    [("/events", "text/plain", "{}"), ("/outcomes", "text/csv", "u,1")],
)
def test_append_errors_share_the_predict_statuses(client, path, other_type, body):
    assert client.post(path, data="{", content_type="application/json").status_code == 400
    assert client.post(path, data=body, content_type=other_type).status_code == 415


def test_events_over_the_batch_limit(make_app):
    client = make_app(batch_limit=2).test_client()
    response = client.post("/events", json={"events": [EVENT] * 3})
    assert response.status_code == 422


def test_redis_down_is_503_and_nothing_is_claimed(client, redis_server):
    redis_server.connected = False
    response = client.post("/events", json=EVENT)
    assert response.status_code == 503
    assert response.get_json()["error"] == "service_unavailable"


def test_stream_name_and_trimming_follow_the_settings(make_app, fake_client):
    client = make_app(installs_stream="in2", stream_maxlen=5).test_client()
    for _ in range(4):
        client.post("/events", json={"events": [EVENT] * 50})
    assert fake_client.exists("installs") == 0
    assert 0 < fake_client.xlen("in2") < 200  # approximate MAXLEN trimming
