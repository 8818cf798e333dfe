import numpy as np
import pandas as pd
import pytest

from scorer import metrics


def test_perfect_predictions():
    y = np.array([0.0, 1.0, 2.0, 10.0])
    result = metrics.regression_metrics(y, y, y, y)
    assert result["mae"] == 0 and result["rmse"] == 0 and result["r2"] == 1
    assert result["gini"] == pytest.approx(1.0)
    assert result["decile_mape"] == 0 and result["total_ratio"] == 1
    assert result["coverage_80"] == 1


def test_normalised_gini_follows_the_gain_curve_definition():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    # reversed: cumulative shares .1 .3 .6 1 -> 2 * .5 - 1 = 0; perfect: .4 .7 .9 1 -> .5
    assert metrics.normalized_gini(y, -y) == pytest.approx(0.0)
    assert metrics.normalized_gini(y, y * 5) == pytest.approx(1.0)
    # order 3, 4, 1, 2: shares .3 .7 .8 1 -> 2 * .7 - 1 = .4
    assert metrics.normalized_gini(y, np.array([2.0, 1.0, 4.0, 3.0])) == pytest.approx(0.4 / 0.5)


def test_gini_breaks_ties_by_original_order():
    # ties in prediction keep input order (stable sort), as the definition asks
    y = np.array([0.0, 1.0])
    flat = np.array([1.0, 1.0])
    expected = (2 * np.mean([0.0, 1.0]) - 1) / (2 * np.mean([1.0, 1.0]) - 1)
    assert metrics.normalized_gini(y, flat) == pytest.approx(expected)


def test_decile_mape_skips_deciles_without_revenue():
    y = np.r_[np.zeros(10), np.full(10, 2.0)]
    pred = np.r_[np.zeros(10), np.full(10, 2.2)]
    assert metrics.decile_mape(y, pred, bins=2) == pytest.approx(0.1)


def test_interval_coverage_counts_bounds_inclusively():
    y = np.array([0.0, 1.0, 2.0, 3.0])
    assert metrics.interval_coverage(y, [0, 0, 3, 0], [0, 1, 4, 2]) == 0.5


def test_segment_calibration_flags_small_segments():
    frame = pd.DataFrame({"country": ["es"] * 40 + ["pt"] * 5})
    y = np.ones(45)
    table = metrics.segment_calibration(frame, y, y * 1.1, "country", min_users=30)
    assert table.loc["es", "ratio"] == pytest.approx(1.1)
    assert not table.loc["es", "too_small"] and table.loc["pt", "too_small"]
