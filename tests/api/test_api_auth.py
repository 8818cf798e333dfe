"""API key: required in X-API-Key on every endpoint but /healthz, /readyz and /metrics (and the
static docs page), compared in constant time."""

from __future__ import annotations

import hmac

import pytest

from support.api import API_KEY

PROTECTED = [
    ("post", "/predict", {"json": {"country": "US"}}),
    ("get", "/users/u-1/prediction", {}),
    ("post", "/events", {"json": {"user_id": "u-1"}}),
    ("post", "/batch-jobs", {"json": [{"country": "US"}]}),
    ("get", "/batch-jobs/some-id", {}),
    ("get", "/model", {}),
    ("get", "/openapi.json", {}),
]
PUBLIC = ["/healthz", "/readyz", "/metrics", "/docs", "/docs/static/swagger-ui.css"]


@pytest.mark.parametrize(("method", "path", "kwargs"), PROTECTED)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-Key": "wrong"},
        {"X-API-Key": ""},
        {"X-API-Key": API_KEY + "x"},
        {"X-API-Key": "clé"},
    ],
)
def test_protected_endpoints_need_the_key(secured_client, method, path, kwargs, headers):
    response = getattr(secured_client, method)(path, headers=headers, **kwargs)
    assert response.status_code == 401
    assert response.get_json()["error"] == "unauthorized"


@pytest.mark.parametrize(("method", "path", "kwargs"), PROTECTED)
def test_the_right_key_lets_requests_through(secured_client, method, path, kwargs):
    response = getattr(secured_client, method)(path, headers={"X-API-Key": API_KEY}, **kwargs)
    assert response.status_code != 401


@pytest.mark.parametrize("path", PUBLIC)
def test_probes_metrics_and_docs_need_no_key(secured_client, path):
    response = secured_client.get(path)
    assert response.status_code == 200
    response.close()


def test_key_is_checked_before_the_body(secured_client):
    """An unauthenticated caller learns nothing from validation errors."""
    response = secured_client.post("/predict", data="{", content_type="application/json")
    assert response.status_code == 401


def test_unknown_paths_need_the_key_too(secured_client):
    assert secured_client.get("/admin").status_code == 401


def test_no_key_configured_means_no_check(client):
    assert client.get("/model").status_code == 200


def test_comparison_is_constant_time(secured_client, monkeypatch):
    calls = []
    compare = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr("api.app.hmac.compare_digest", spy)
    secured_client.get("/model", headers={"X-API-Key": "guess"})
    assert calls == [(b"guess", API_KEY.encode())]


def test_openapi_declares_the_key_only_when_required(client, secured_client):
    open_doc = client.get("/openapi.json").get_json()
    assert open_doc["paths"]["/predict"]["post"]["security"] == []
    assert "401" not in open_doc["paths"]["/predict"]["post"]["responses"]
    doc = secured_client.get("/openapi.json", headers={"X-API-Key": API_KEY}).get_json()
    assert doc["paths"]["/predict"]["post"]["security"] == [{"ApiKey": []}]
    assert "401" in doc["paths"]["/predict"]["post"]["responses"]
    assert doc["paths"]["/healthz"]["get"]["security"] == []
