"""/model, /healthz, /readyz, /metrics, /openapi.json, /docs, unknown routes and methods."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from scorer.schema import MAX_COUNT, RECORD_COLUMNS

from support.api import OPERATIONS


def samples(client) -> dict[tuple, float]:
    text = client.get("/metrics").get_data(as_text=True)
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def test_model_card(client):
    body = client.get("/model").get_json()
    assert body == {
        "model_version": "fake-1",
        "source": {"kind": "injected"},
        "card": {"version": "fake-1", "target": "D7 revenue", "metrics": {"mae": 0.1}},
    }


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_ok(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ready",
        "checks": {"model": "ok", "redis": "ok", "database": "ok"},
    }


def test_readyz_names_the_failed_dependency(client, redis_server):
    redis_server.connected = False
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.get_json()["checks"]
    assert checks["redis"].startswith("error: ") and checks["database"] == "ok"
    assert response.get_json()["status"] == "unavailable"


def test_readyz_database_down(make_app):
    client = make_app(database_url="sqlite:////nonexistent-dir/x.db").test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["checks"]["database"].startswith("error: ")


def test_metrics_count_requests_and_latency_per_endpoint_and_status(client):
    client.post("/predict", json={"country": "US"})
    client.post("/predict", json={"event_1": -1})
    client.get("/users/nobody/prediction")
    client.get("/no-such-page")
    values = samples(client)
    predict_ok = (("endpoint", "/predict"), ("method", "POST"), ("status", "200"))
    assert values[("api_requests_total", predict_ok)] == 1
    assert values[("api_requests_total", predict_ok[:2] + (("status", "422"),))] == 1
    user = (("endpoint", "/users/<user_id>/prediction"), ("method", "GET"), ("status", "404"))
    assert values[("api_requests_total", user)] == 1
    unmatched = (("endpoint", "unmatched"), ("method", "GET"), ("status", "404"))
    assert values[("api_requests_total", unmatched)] == 1
    assert values[("api_request_duration_seconds_count", predict_ok)] == 1
    assert values[("api_request_duration_seconds_sum", predict_ok)] > 0


def test_unknown_methods_do_not_grow_label_sets(client):
    client.open("/predict", method="BREW")
    assert (
        "api_requests_total",
        (("endpoint", "unmatched"), ("method", "other"), ("status", "405")),
    ) in samples(client)


def test_openapi_document(client, make_app):
    document = client.get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]) == {path for _, path in OPERATIONS}
    record = document["components"]["schemas"]["InstallRecord"]
    assert set(record["properties"]) == set(RECORD_COLUMNS)
    assert record["additionalProperties"] is False
    assert {"type": "number", "minimum": 0, "maximum": MAX_COUNT} in record["properties"][
        "event_1"
    ]["anyOf"]
    batch = document["components"]["schemas"]["PredictBatch"]["properties"]["instances"]
    assert batch["maxItems"] == 1000
    small = make_app(batch_limit=7).test_client().get("/openapi.json").get_json()
    assert (
        small["components"]["schemas"]["PredictBatch"]["properties"]["instances"]["maxItems"] == 7
    )


def test_docs_page_and_its_assets_are_served_locally(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "/openapi.json" in html and "https://" not in html and "http://" not in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        response = client.get(f"/docs/static/{asset}")
        assert response.status_code == 200 and len(response.get_data()) > 10_000
        response.close()
    assert client.get("/docs/static/../../api/app.py").status_code == 404
    assert client.get("/docs/static/swagger-editor.js").status_code == 404


def test_unknown_route_and_wrong_method_are_json(client):
    missing = client.get("/nothing-here")
    assert missing.status_code == 404 and missing.get_json()["error"] == "not_found"
    wrong = client.get("/predict")
    assert wrong.status_code == 405 and wrong.get_json()["error"] == "method_not_allowed"
    assert "POST" in wrong.headers["Allow"]


def test_warm_up_leaves_no_trace(app, fake_client, services):
    """create_app ran the request path dozens of times: nothing published, nothing counted."""
    assert services.publisher.pending == 0 and fake_client.exists("scored") == 0
    values = samples(app.test_client())
    counted = {
        key: value
        for key, value in values.items()
        if key[0] in ("api_requests_total", "api_predictions_total") and value
    }
    assert counted == {}
    assert values[("api_workers_ready", ())] == 1
