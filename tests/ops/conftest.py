"""Fixtures of the operations tests: a temporary MLflow tracking store."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory):
    """A fresh SQLite-backed MLflow store (artifacts next to it), one per test module."""
    pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
    folder = tmp_path_factory.mktemp("mlflow")
    return f"sqlite:///{folder / 'mlflow.db'}"


@pytest.fixture(scope="module")
def mlflow_client(tracking_uri, tmp_path_factory):
    from adapters.registry import mlflow_client

    # a local store puts run artifacts under ./mlruns unless the experiment says otherwise
    artifacts = tmp_path_factory.mktemp("artifacts")
    client = mlflow_client(tracking_uri)
    client.create_experiment("d7-revenue", artifact_location=artifacts.as_uri())
    return client
