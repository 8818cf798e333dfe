"""Descriptive facts of the data, on synthetic records with one country reported on another scale."""

import numpy as np
import pandas as pd
import pytest

from scorer.analysis import explore
from scorer.analysis.diagnostics import (
    calibration_by_segment,
    coverage_by_prediction,
    coverage_by_segment,
    residual_summary,
)

SCALE = 1e4


@pytest.fixture(scope="module")
def skewed(synthetic):
    """The synthetic users with Germany's revenue multiplied by SCALE."""
    frame, revenue = synthetic
    return frame, np.where(frame.country == "de", revenue * SCALE, revenue)


def test_top_share_and_forecasts():
    revenue = np.array([1.0] * 99 + [100.0])
    assert explore.top_share(revenue, 0.01) == pytest.approx(100 / 199)
    table = explore.forecast_by_statistic(revenue)
    assert table.loc["mean", "forecast / actual"] == pytest.approx(1.0)
    assert table.loc["median", "forecast / actual"] == pytest.approx(100 / 199)


def test_exposure_facts():
    frame = pd.DataFrame({"event_2": [0.0, 0, 0, 5], "event_3": [0.0, np.nan, np.nan, 1]})
    facts = explore.exposure_facts(frame, np.array([0.0, 2.0, 0.0, 1.0]))
    assert facts["users with event_2 = event_3 = 0"] == 1
    assert facts["... of whom with revenue > 0"] == 0
    assert facts["users with event_3 unknown"] == 2
    assert facts["... of whom with event_2 = 0 and revenue > 0"] == 1


def test_the_scaled_country_stands_out(skewed):
    frame, revenue = skewed
    rates = explore.rate_vs_typical(frame, revenue)
    assert rates.index[0] == "de" and rates.times_typical.iloc[0] > SCALE / 10
    profile = explore.anomaly_profile(frame, revenue, ["de"])
    ratio = (
        profile.loc["median revenue per exposure", "de"]
        / profile.loc["median revenue per exposure", "all other countries"]
    )
    assert ratio > SCALE / 10
    assert profile.loc["share of total revenue"].sum() == pytest.approx(1.0)
    by_platform = explore.rate_breakdown(frame, revenue, "de", "platform")
    assert set(by_platform.index) == {"android", "ios"}
    assert (by_platform.times_typical > SCALE / 10).all()


def test_rate_spread_is_tighter_on_ios(synthetic):
    frame, revenue = synthetic
    spread = explore.rate_spread(frame, revenue, min_users=50)
    assert spread.loc[("es", "ios"), "log_rate_std"] < spread.loc[("es", "android"), "log_rate_std"]
    assert (spread.users >= 50).all()


def test_matched_examples_hide_user_ids(skewed):
    frame, revenue = skewed
    examples = explore.matched_examples(frame, revenue, "de", count=3)
    assert "user_id" not in examples and len(examples) == 6
    assert (examples.group == "de").sum() == 3
    assert (examples[examples.group == "elsewhere"].country != "de").all()


def test_segments_are_normalised(synthetic):
    frame, revenue = synthetic
    table = explore.segment_revenue(frame, revenue, "platform")
    assert set(table.index) == {"android", "ios"}
    assert table.users.sum() == len(frame)


def test_calibration_and_coverage_by_segment(synthetic):
    frame, revenue = synthetic
    calibration = calibration_by_segment(frame, revenue, revenue * 2, "platform")
    assert set(calibration.index) == {"android", "ios"}
    assert np.allclose(calibration.ratio, 2.0)
    lower, upper = revenue * 0.9, revenue * 1.1
    inside = coverage_by_segment(frame, revenue, lower, upper, "country", min_users=100)
    assert (inside.coverage == 1.0).all()
    assert inside.too_small.tolist() == (inside.users < 100).tolist()
    outside = coverage_by_segment(frame, revenue, lower + 1, upper + 1, "platform")
    assert (outside.coverage == 0.0).all()


def test_coverage_and_residuals_by_prediction():
    y = np.arange(1, 101, dtype=float)
    table = coverage_by_prediction(y, y, y * 0.5, np.where(y > 50, y * 2, y * 0.9))
    assert len(table) == 10 and table.users.sum() == 100
    assert table.coverage.tolist() == [0.0] * 5 + [1.0] * 5
    assert residual_summary(y, y)["true / predicted"].eq(1.0).all()


def test_row_order_reveals_a_sorted_file():
    revenue = np.linspace(10.0, 0.0, 800)
    table = explore.row_order(revenue, blocks=4)
    assert table.users.tolist() == [200] * 4
    assert table.mean_revenue.is_monotonic_decreasing
    assert explore.file_order_gini(revenue) == pytest.approx(1.0)
    shuffled = np.random.default_rng(0).permutation(revenue)
    assert abs(explore.file_order_gini(shuffled)) < 0.1
