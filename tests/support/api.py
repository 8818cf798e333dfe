"""Constants of the API tests."""

API_KEY = "test-key-5f1c"
"""The key of the `secured_client` fixture's app."""

OPERATIONS = [
    ("POST", "/predict"),
    ("GET", "/users/{user_id}/prediction"),
    ("POST", "/events"),
    ("POST", "/outcomes"),
    ("GET", "/monitoring/calibration"),
    ("GET", "/monitoring/drift"),
    ("POST", "/batch-jobs"),
    ("GET", "/batch-jobs/{job_id}"),
    ("GET", "/model"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
]
"""Every operation /openapi.json documents (method, path), in its order."""


def assert_refused_naming(response, field: str) -> None:
    """`response` is a 422 whose details name `field`."""
    assert response.status_code == 422
    assert field in [detail["field"] for detail in response.get_json()["details"]]
