"""Endpoint declarations: every served view has one, the document lists exactly the documented
ones, the key check spares exactly the public ones, and limits come from their one source."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from api.endpoints import Endpoint, PathParameter, served_endpoints
from api.schemas import UserId
from scorer.schema import COLUMNS

from support.api import API_KEY

CONTRACT_USER_ID_LENGTH = next(c.max_length for c in COLUMNS if c.name == "user_id")


def test_the_document_lists_exactly_the_documented_endpoints(app, client):
    endpoints = served_endpoints(app).values()
    document = client.get("/openapi.json").get_json()
    listed = {
        (method.upper(), path) for path in document["paths"] for method in document["paths"][path]
    }
    declared = {(e.method, e.path) for e in endpoints if e.documented}
    assert listed == declared
    served = {(method, rule.rule) for rule in app.url_map.iter_rules() for method in rule.methods}
    assert {(e.method, e.rule) for e in endpoints} <= served


def test_only_public_endpoints_skip_the_key(make_app):
    app = make_app(api_key=API_KEY)
    client = app.test_client()
    document = client.get("/openapi.json", headers={"X-API-Key": API_KEY}).get_json()
    for endpoint in served_endpoints(app).values():
        if endpoint.documented:
            operation = document["paths"][endpoint.path][endpoint.method.lower()]
            assert ("401" in operation["responses"]) is not endpoint.public
        if endpoint.public and "<" not in endpoint.rule:
            response = client.open(endpoint.rule, method=endpoint.method)
            assert response.status_code != 401
            response.close()


def test_the_user_id_limit_is_the_record_contracts(client):
    document = client.get("/openapi.json").get_json()
    (parameter,) = document["paths"]["/users/{user_id}/prediction"]["get"]["parameters"]
    assert parameter["schema"]["maxLength"] == CONTRACT_USER_ID_LENGTH
    longest = client.get(f"/users/{'x' * CONTRACT_USER_ID_LENGTH}/prediction")
    assert longest.status_code == 404
    too_long = client.get(f"/users/{'x' * (CONTRACT_USER_ID_LENGTH + 1)}/prediction")
    assert too_long.status_code == 422
    assert too_long.get_json()["details"] == [
        {"field": "user_id", "message": f"must be 1 to {CONTRACT_USER_ID_LENGTH} characters"}
    ]


def test_usual_statuses_have_metric_series_from_the_start(app, client):
    text = client.get("/metrics").get_data(as_text=True)
    series = {
        (sample.labels["endpoint"], sample.labels["method"], sample.labels["status"])
        for family in text_string_to_metric_families(text)
        if family.name == "api_requests"
        for sample in family.samples
        if sample.name == "api_requests_total"
    }
    usual = {
        (endpoint.rule, endpoint.method, str(status))
        for endpoint in served_endpoints(app).values()
        for status in endpoint.usual
    }
    assert usual and usual <= series


def _check(value: str) -> str:
    return value


@pytest.mark.parametrize(
    "declaration",
    [
        {"rule": "/users/<user_id>"},
        {"rule": "/users", "parameters": (PathParameter("user_id", UserId, _check),)},
        {"rule": "/users", "responses": {200: ("OK", None)}, "usual": (200, 404)},
    ],
)
def test_inconsistent_declarations_are_refused(declaration):
    with pytest.raises(ValueError):
        Endpoint(method="GET", **declaration)
