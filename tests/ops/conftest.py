"""Fixtures of the operations tests: a temporary MLflow tracking store and the committed bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODEL_DIR = ROOT / "models" / "d7"


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
