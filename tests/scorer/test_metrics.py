import itertools

import numpy as np
import pandas as pd
import pytest

from scorer import metrics
from scorer.metrics import decile_table, decile_tables


def test_perfect_predictions():
    y = np.array([0.0, 1.0, 2.0, 10.0])
    result = metrics.regression_metrics(y, y, y, y)
    assert result["mae"] == 0 and result["rmse"] == 0 and result["r2"] == 1
    assert result["gini"] == pytest.approx(1.0)
    assert result["decile_mape"] == 0 and result["total_ratio"] == 1
    assert result["coverage_80"] == 1


def test_normalised_gini_follows_the_gain_curve_definition():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    # area between the gain curve through the origin and the diagonal, times 2:
    # 2 * mean(cumulative shares) - 1 - 1/n.
    # reversed: .1 .3 .6 1 -> 2 * .5 - 1.25 = -.25; perfect: .4 .7 .9 1 -> 2 * .75 - 1.25 = .25
    assert metrics.normalized_gini(y, -y) == pytest.approx(-1.0)
    assert metrics.normalized_gini(y, y * 5) == pytest.approx(1.0)
    # order 3, 4, 1, 2: shares .3 .7 .8 1 -> 2 * .7 - 1.25 = .15
    assert metrics.normalized_gini(y, np.array([2.0, 1.0, 4.0, 3.0])) == pytest.approx(0.15 / 0.25)


def test_gini_counts_tied_predictions_as_in_random_order():
    # two users tied: each gets the tie group's mean revenue, so the order in the file is moot
    y = np.array([0.0, 1.0])
    flat = np.array([1.0, 1.0])
    expected = (2 * np.mean([0.5, 1.0]) - 1.5) / (2 * np.mean([1.0, 1.0]) - 1.5)
    assert metrics.normalized_gini(y, flat) == pytest.approx(expected)
    assert metrics.normalized_gini(y[::-1], flat) == pytest.approx(expected)


def test_constant_prediction_has_gini_zero_whatever_the_row_order():
    rng = np.random.default_rng(3)
    y = np.sort(rng.gamma(0.3, 2.0, 500))[::-1]  # file order carries revenue, as in the data
    for order in (y, y[::-1], rng.permutation(y)):
        assert metrics.normalized_gini(order, np.full(len(order), 0.2)) == pytest.approx(0.0)
        users, share = metrics.gain_curve(order, np.ones(len(order)))
        assert share == pytest.approx(users)


def test_gini_with_ties_equals_the_mean_over_every_order_of_the_ties():
    y = np.array([3.0, 0.0, 1.0, 0.0, 5.0])
    pred = np.array([1.0, 1.0, 2.0, 1.0, 2.0])  # two tie groups
    ginis = []
    for first in itertools.permutations([0, 1, 3]):
        for second in itertools.permutations([2, 4]):
            order = list(second) + list(first)  # best first, then ranks 3..5
            ginis.append(metrics.normalized_gini(y[order], -np.arange(5.0)))
    assert metrics.normalized_gini(y, pred) == pytest.approx(np.mean(ginis))


def test_deciles_never_split_tied_predictions():
    rng = np.random.default_rng(4)
    y = rng.gamma(0.5, 1.0, 300)
    pred = np.r_[np.zeros(120), rng.uniform(1, 2, 180)]  # 40% tied at zero
    table = metrics.decile_table(y, pred)
    assert table.users.sum() == 300
    assert (table.mean_pred == 0).sum() == 1  # every zero prediction in one decile
    assert table.loc[table.mean_pred == 0, "users"].item() == 120
    shuffled = rng.permutation(300)
    assert metrics.decile_mape(y[shuffled], pred[shuffled]) == pytest.approx(
        metrics.decile_mape(y, pred)
    )
    assert len(metrics.decile_table(y, np.ones(300))) == 1


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


def test_decile_tables_give_each_groups_decile_table_number_for_number():
    rng = np.random.default_rng(3)
    y_pred = np.round(rng.lognormal(0, 1, 900), 1)  # ties, within and across groups
    y_true = y_pred * rng.lognormal(0, 0.5, 900)
    groups = rng.integers(0, 3, 900)
    together = decile_tables(y_true, y_pred, groups)
    for group in range(3):
        alone = decile_table(y_true[groups == group], y_pred[groups == group])
        pd.testing.assert_frame_equal(together.loc[group], alone, check_exact=True)
