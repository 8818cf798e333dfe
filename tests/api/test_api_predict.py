"""POST /predict: answers, what it publishes to the scored stream, and every error status."""

from __future__ import annotations

import io
import json

import pytest
from werkzeug.test import EnvironBuilder, run_wsgi_app

from adapters.stream import decode_scored

from support.contract import ANSWER_FIELDS

INSTALL = {"user_id": "u-1", "country": "US", "platform": "iOS", "source": "Organic"}
EARLY = {**INSTALL, "event_1": 4, "event_2": 2, "event_3": 0}


def scored_entries(fake_client, services):
    assert services.publisher.flush()
    return [fields for _, fields in fake_client.xrange("scored")]


def test_single_record_answer(client):
    response = client.post("/predict", json=EARLY)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == set(ANSWER_FIELDS)
    assert body["flags"] == []
    assert body["user_id"] == "u-1"
    assert body["stage"] == "early_events"
    assert body["predicted_revenue"] == pytest.approx(
        4 + 10 * 2
    )  # the fake: event_1 + 10 * event_2
    assert body["lower"] <= body["predicted_revenue"] <= body["upper"]
    assert body["model_version"] == "fake-1"
    assert response.headers["X-Request-ID"] == body["request_id"]


def test_missing_or_null_counts_mean_install_stage(client):
    for record in ({"country": "US"}, {"country": "US", "event_1": None, "event_2": None}, {}):
        body = client.post("/predict", json=record).get_json()
        assert body["stage"] == "install"
        assert body["user_id"] is None


def test_unknown_categories_are_accepted(client):
    record = {"country": "ZZ-never-seen", "platform": "symbian", "device_family": "x" * 128}
    assert client.post("/predict", json=record).status_code == 200


def test_numeric_strings_and_blank_strings(client):
    body = client.post("/predict", json={"event_1": "3", "event_2": "1", "country": " "}).get_json()
    assert body["stage"] == "early_events"


def test_each_request_is_published_once_to_the_scored_stream(client, fake_client, services):
    first = client.post("/predict", json=EARLY).get_json()
    second = client.post("/predict", json={"country": "BR"}).get_json()
    entries = scored_entries(fake_client, services)
    rows = [decode_scored(fields) for fields in entries]  # the worker's own decoder
    assert [row["event_id"] for row in rows] == [first["request_id"], second["request_id"]]
    row = rows[0]
    assert row["source"] == "api"
    assert row["user_id"] == "u-1"
    assert row["stage"] == "early_events"
    assert row["predicted_revenue"] == pytest.approx(first["predicted_revenue"])
    assert row["model_version"] == "fake-1"
    assert row["input"]["event_1"] == 4 and row["input"]["country"] == "US"
    assert rows[1]["user_id"] is None


def test_batch_answers_in_order_with_indexed_ids(client, fake_client, services):
    instances = [INSTALL, EARLY, {"user_id": "u-3"}]
    response = client.post("/predict", json={"instances": instances})
    assert response.status_code == 200
    body = response.get_json()
    request_id = body["request_id"]
    assert body["model_version"] == "fake-1"
    predictions = body["predictions"]
    assert [p["stage"] for p in predictions] == ["install", "early_events", "install"]
    assert [p["user_id"] for p in predictions] == ["u-1", "u-1", "u-3"]
    assert [p["request_id"] for p in predictions] == [f"{request_id}:{i}" for i in range(3)]
    event_ids = [decode_scored(f)["event_id"] for f in scored_entries(fake_client, services)]
    assert event_ids == [f"{request_id}:{i}" for i in range(3)]


def test_batch_limit(make_app):
    client = make_app(batch_limit=3).test_client()
    assert client.post("/predict", json={"instances": [{}] * 3}).status_code == 200
    response = client.post("/predict", json={"instances": [{}] * 4})
    assert response.status_code == 422
    assert response.get_json()["details"][0]["field"] == "instances"
    empty = client.post("/predict", json={"instances": []})
    assert empty.status_code == 422


def test_malformed_json_is_400(client):
    for data in (b"{", b'{"country": "US",}', b"NaN", b'{"event_1": Infinity}', b"", b"  "):
        response = client.post("/predict", data=data, content_type="application/json")
        assert response.status_code == 400, data
        assert response.get_json()["error"] == "bad_request"


def test_wrong_content_type_is_415(client):
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        response = client.post("/predict", data=json.dumps(INSTALL), content_type=content_type)
        assert response.status_code == 415
        assert response.get_json()["error"] == "unsupported_media_type"


def test_json_with_charset_and_suffix_types_are_json(client):
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = client.post("/predict", data=json.dumps(INSTALL), content_type=content_type)
        assert response.status_code == 200


def test_body_over_the_limit_is_413(make_app):
    client = make_app(max_body_bytes=200).test_client()
    big = {"instances": [{"country": "US"}] * 50}
    response = client.post("/predict", json=big)
    assert response.status_code == 413
    assert response.get_json()["error"] == "payload_too_large"


def test_chunked_body_over_the_limit_is_413(make_app):
    """A body without Content-Length (chunked) is cut off at the limit while it is read."""
    app = make_app(max_body_bytes=200)
    payload = json.dumps({"instances": [{"country": "US"}] * 50}).encode()
    builder = EnvironBuilder(
        path="/predict",
        method="POST",
        input_stream=io.BytesIO(payload),
        content_type="application/json",
    )
    environ = builder.get_environ()
    del environ["CONTENT_LENGTH"]
    environ.update({"wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"})
    _, status, _ = run_wsgi_app(app.wsgi_app, environ, buffered=True)
    assert status.startswith("413")


def test_schema_violations_are_422_with_one_entry_per_field(client):
    record = {"event_1": -1, "event_2": "many", "country": "x" * 65, "colour": "red"}
    response = client.post("/predict", json=record)
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "validation_error"
    fields = {d["field"]: d["message"] for d in body["details"]}
    assert set(fields) == {"event_1", "event_2", "country", "colour"}
    assert fields["event_1"] == "must be >= 0"
    assert "number" in fields["event_2"]
    assert "64" in fields["country"]
    assert "not permitted" in fields["colour"]


def test_batch_errors_name_the_instance(client):
    response = client.post("/predict", json={"instances": [{}, {"event_3": -2}, {"x": 1}]})
    assert response.status_code == 422
    fields = [d["field"] for d in response.get_json()["details"]]
    assert fields == ["instances.1.event_3", "instances.2.x"]


@pytest.mark.parametrize(
    "body",
    [
        [],
        [1, 2],
        3,
        "text",
        None,
        True,
        {"instances": "all"},
        {"instances": [1]},
        {"instances": [{}], "extra": 1},
        {"event_1": True},
        {"event_1": 10**400},
        {"event_1": 1e308 * 10},
        {"country": {"nested": 1}},
        {"event_2": [1]},
    ],
)
def test_odd_bodies_are_4xx_never_5xx(client, body):
    response = client.post("/predict", data=json.dumps(body), content_type="application/json")
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    assert "error" in response.get_json()


def test_deeply_nested_json_is_4xx(client):
    data = "[" * 100_000 + "]" * 100_000
    response = client.post("/predict", data=data, content_type="application/json")
    assert response.status_code in (400, 413)


def test_predictions_are_counted_by_stage(client):
    client.post("/predict", json={"instances": [INSTALL, EARLY, EARLY]})
    text = client.get("/metrics").get_data(as_text=True)
    assert 'api_predictions_total{stage="early_events"} 2.0' in text
    assert 'api_predictions_total{stage="install"} 1.0' in text


def test_predictions_are_counted_by_flag(client):
    flagged = {**EARLY, "country": "pe"}
    body = client.post("/predict", json={"instances": [INSTALL, flagged, flagged]}).get_json()
    assert [answer["flags"] for answer in body["predictions"]] == [
        [],
        ["anomalous_country_rate"],
        ["anomalous_country_rate"],
    ]
    text = client.get("/metrics").get_data(as_text=True)
    assert 'api_prediction_flags_total{flag="anomalous_country_rate"} 2.0' in text
    assert 'api_prediction_flags_total{flag="unseen_country"} 0.0' in text
