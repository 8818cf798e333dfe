"""Data tests: the real training file still looks like what the model was built for.

Skipped with the reason printed when the file is absent; required in CI (REQUIRE_DATA=1).
"""

import numpy as np
import pytest

from scorer.data import read_records
from scorer.normalize import map_unique
from scorer.quality import country_rates, rate_anomalies


@pytest.fixture(scope="module")
def training(dataset_path):
    frame = read_records(dataset_path, require_target=True)
    return frame.drop(columns="revenue"), frame["revenue"].to_numpy()


def test_schema_and_ranges(training):
    frame, revenue = training
    assert len(frame) > 10_000
    assert (revenue >= 0).all() and np.isfinite(revenue).all()
    for column in ("event_1", "event_2"):
        assert frame[column].notna().all() and (frame[column] >= 0).all()
    assert frame["event_3"].isna().mean() < 0.05
    assert set(map_unique(frame["platform"], "platform")) <= {"android", "ios"}


def test_target_shape_is_zero_inflated_and_heavy_tailed(training):
    _, revenue = training
    assert 0.3 < np.mean(revenue == 0) < 0.45
    assert np.quantile(revenue, 0.99) < 10 < revenue.max()


def test_no_exposure_means_no_revenue(training):
    frame, revenue = training
    no_exposure = (frame.event_2 == 0) & (frame.event_3 == 0)
    assert no_exposure.sum() > 1000
    assert (revenue[no_exposure.to_numpy()] == 0).all()


def test_exactly_one_country_has_an_anomalous_rate(training):
    frame, revenue = training
    anomalous = rate_anomalies(frame, revenue)
    assert anomalous == ["pe"]
    rates = country_rates(frame, revenue)
    others = rates.drop(index="pe")
    typical = others[others.users >= 20].rate.median()
    assert rates.loc["pe", "rate"] / typical > 10_000
