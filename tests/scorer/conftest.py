"""Fixtures of the scorer tests: a small synthetic training set, a model fitted on it, and the
real data set when it is present (CI copies it; REQUIRE_DATA=1 makes its absence a failure)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scorer.synth import synthetic_records
from scorer.train import StageParams, TrainingConfig, fit_predictor

DATASET = Path(os.environ.get("D7_DATA", "data/dataset.csv"))
SMALL = TrainingConfig(
    events=StageParams(40, 0.2, 3, 1.0, 0.8, 1.0, 1.0, 1.5),
    install=StageParams(20, 0.2, 2, 5.0, 0.8, 1.0, 1.0, 1.5),
    threads=1,
)
"""A quick configuration for tests: the same code path as the real one, fewer and smaller trees."""


@pytest.fixture(scope="session")
def small_config():
    return SMALL


@pytest.fixture(scope="session")
def synthetic():
    frame = synthetic_records(3000, seed=7)
    return frame.drop(columns="revenue"), frame["revenue"].to_numpy()


@pytest.fixture(scope="session")
def small_predictor(synthetic):
    frame, revenue = synthetic
    return fit_predictor(frame, revenue, SMALL, threads=1, card={"version": "test-small"})


@pytest.fixture(scope="session")
def dataset_path():
    if not DATASET.is_file():
        if os.environ.get("REQUIRE_DATA") == "1":
            pytest.fail(f"REQUIRE_DATA=1 but the data set is missing at {DATASET}")
        pytest.skip(f"data set not found at {DATASET} (CI copies it from ../shared/data)")
    return DATASET
