"""The comparison table: the same folds for every contender, every metric, mean and std."""

import numpy as np
import pytest

from scorer.analysis.candidates import Contender, CountryRateBaseline, MeanBaseline
from scorer.analysis.comparison import compare, mean_std, summary_table
from scorer.train import fit_predictor

pytestmark = pytest.mark.slow  # fits every contender


@pytest.fixture(scope="module")
def comparison(synthetic, small_config):
    frame, revenue = synthetic
    contenders = [
        Contender("mean", "baseline", MeanBaseline.fit),
        Contender("rate", "baseline", CountryRateBaseline.fit),
        Contender(
            "chosen", "chosen", lambda f, r: fit_predictor(f, r, small_config, 1), intervals=True
        ),
    ]
    return compare(frame, revenue, contenders, anomalous=["us"], repeats=1)


def test_one_table_with_every_metric_per_stage_and_subset(comparison):
    table = comparison.table()
    assert list(table.index) == [
        (stage, model)
        for stage in ("early_events", "install")
        for model in ("mean", "rate", "chosen")
    ]
    assert table.columns.get_level_values("subset").unique().tolist() == [
        "all users",
        "excl. anomalous country",
    ]
    assert len(table.columns) == 2 * 8
    coverage = table.xs("80% coverage", axis=1, level="metric")
    assert (coverage.loc[(slice(None), "mean"), :] == "n/a").all().all()
    assert "±" in coverage.loc[("early_events", "chosen"), "all users"]


def test_stats_are_the_fold_mean_and_std(comparison):
    folds = comparison.folds
    rows = folds[
        (folds.model == "rate") & (folds.stage == "early_events") & (folds.subset == "all")
    ]
    stats = comparison.stats().loc[("early_events", "rate")]
    assert len(rows) == 5
    assert stats[("all", "mae", "mean")] == pytest.approx(rows.mae.mean())
    assert stats[("all", "mae", "std")] == pytest.approx(rows.mae.std(ddof=1))


def test_leaders_and_where_a_model_is_beaten(comparison):
    leaders = comparison.leaders()
    means = comparison.means("early_events", "all", ["mae", "gini", "total_ratio"])
    assert leaders.loc[("early_events", "all users", "MAE"), "best model"] == means.mae.idxmin()
    assert leaders.loc[("early_events", "all users", "norm. Gini"), "best model"] == (
        means.gini.idxmax()
    )
    closest = (means.total_ratio - 1).abs().idxmin()
    assert leaders.loc[("early_events", "all users", "pred / actual"), "best model"] == closest
    beaten = comparison.against("chosen")
    won = leaders[leaders["best model"] == "chosen"].index
    assert not set(won) & set(beaten.index)
    assert len(beaten) + len(won) == len(leaders)


def test_every_contender_saw_the_same_folds(comparison):
    oof = comparison.oof
    assert set(oof) == {"mean", "rate", "chosen"}
    # the mean baseline predicts its training fold's mean: five distinct values, one per fold
    assert len(np.unique(oof["mean"]["early_events_predicted_revenue"].round(12))) == 5


def test_mean_std_reads_well():
    assert mean_std(2.24124, 1.80925) == "2.241 ± 1.8"
    assert mean_std(0.9990134, 0.00041) == "0.999 ± 0.00041"
    assert mean_std(None, None) == "n/a"
    assert mean_std(float("nan"), 0.1) == "n/a"
    assert mean_std(1.5, None) == "1.5"


def test_summary_table_from_a_model_card():
    summary = {
        "early_events": {
            "all": {"mae": {"mean": 2.0, "std": 0.5}, "coverage_80": {"mean": None, "std": None}},
            "excl_anomalous": {"mae": {"mean": 0.005, "std": 0.001}},
        }
    }
    table = summary_table(summary)
    assert table.loc["MAE", ("early_events", "all users")] == "2 ± 0.5"
    assert table.loc["80% coverage", ("early_events", "all users")] == "n/a"
    assert table.loc["MAE", ("early_events", "excl. anomalous country")] == "0.005 ± 0.001"
