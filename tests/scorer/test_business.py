"""The bid simulation's arithmetic and the drift measures."""

import numpy as np
import pandas as pd
import pytest

from scorer.analysis.business import cohort_noise, population_stability, roas_simulation


def test_bid_rules_on_a_tiny_cohort():
    revenue = np.array([0.0, 1.0, 3.0])
    table = roas_simulation(revenue, {"model": np.array([0.1, 2.0, 2.0])}, [1.5]).set_index("rule")
    assert table.loc["flat bid", ["installs", "spend", "d7 revenue"]].tolist() == [3, 4.5, 4.0]
    assert table.loc["flat bid", "d7 profit"] == pytest.approx(-0.5)
    assert table.loc["value bid: model", ["installs", "spend", "d7 profit"]].tolist() == [
        2,
        3.0,
        1.0,
    ]
    assert table.loc["perfect foresight", ["installs", "d7 profit"]].tolist() == [1, 1.5]
    assert table.loc["perfect foresight", "d7 roas"] == pytest.approx(2.0)


def test_a_higher_roas_target_buys_less():
    revenue = np.array([0.0, 1.0, 3.0])
    table = roas_simulation(revenue, {"m": np.array([0.1, 2.0, 2.0])}, [1.5], target_roas=2.0)
    value = table.set_index("rule").loc["value bid: m"]
    assert value.installs == 0 and np.isnan(value["d7 roas"]) and value["d7 profit"] == 0


def test_population_stability():
    rng = np.random.default_rng(0)
    same = rng.normal(size=5000)
    assert population_stability(same, same) == pytest.approx(0.0)
    assert population_stability(same, rng.normal(size=5000)) < 0.02
    assert population_stability(same, rng.normal(1.0, 1.0, size=5000)) > 0.2
    mix = pd.Series(["a"] * 80 + ["b"] * 20)
    assert population_stability(mix, mix) == pytest.approx(0.0)
    assert population_stability(mix, pd.Series(["a"] * 50 + ["c"] * 50)) > 0.5


def test_cohort_noise_is_small_for_one_population():
    rng = np.random.default_rng(1)
    monitored = pd.DataFrame({"platform": rng.choice(["ios", "android"], 4000)})
    revenue = rng.gamma(0.5, 1.0, 4000)
    predicted = np.full(len(revenue), revenue.mean())  # calibrated on average, not per user
    table = cohort_noise(monitored, revenue, predicted, cohort_size=1000, draws=30, seed=2)
    assert list(table.index) == ["PSI of platform", "cohort predicted / actual"]
    assert table.loc["PSI of platform", "95th percentile"] < 0.02
    assert (
        table.loc["cohort predicted / actual", "5th percentile"]
        < 1
        < table.loc["cohort predicted / actual", "95th percentile"]
    )
