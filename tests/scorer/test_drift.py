"""Input drift: the training distribution stored in the domain, and the PSI against it."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scorer.domain import MISSING, OTHER, TrainingDomain
from scorer.drift import ANY, MAJOR_PSI, MODERATE_PSI, drift_report, population_stability
from scorer.synth import synthetic_records


@pytest.fixture(scope="module")
def frames():
    frame = synthetic_records(8000, seed=3).drop(columns="revenue")
    return frame.iloc[:5000], frame.iloc[5000:].reset_index(drop=True)


@pytest.fixture(scope="module")
def domain(frames):
    return TrainingDomain.fit(frames[0])


def test_psi_is_the_textbook_sum():
    expected = np.array([0.5, 0.3, 0.2])
    observed = np.array([30, 30, 40])
    have = observed / observed.sum()
    assert population_stability(expected, observed) == pytest.approx(
        np.sum((have - expected) * np.log(have / expected))
    )
    assert population_stability(expected, expected * 1000) == pytest.approx(0.0)
    assert np.isnan(population_stability(expected, np.zeros(3)))


def test_the_distribution_has_shares_that_add_up_and_no_user_rows(domain):
    distribution = domain.distribution
    for column, shares in distribution.category_shares.items():
        assert sum(shares.values()) == pytest.approx(1.0), column
    assert MISSING in distribution.category_shares["source"]  # synthetic sources are 4% blank
    for column, shares in distribution.count_shares.items():
        assert sum(shares) == pytest.approx(1.0), column
        assert len(shares) == len(distribution.count_edges[column]) + 1
    text = json.dumps(domain.to_dict())
    assert "user_id" not in text


def test_the_long_tail_goes_to_the_other_bucket():
    frame = synthetic_records(2000, seed=4).drop(columns="revenue")
    frame.loc[frame.index[:5], "device_family"] = [f"rare phone {i}" for i in range(5)]
    shares = TrainingDomain.fit(frame).distribution.category_shares["device_family"]
    assert OTHER in shares and not any(name.startswith("rare phone") for name in shares)
    assert shares[OTHER] >= 5 / 2000


def test_the_distribution_survives_the_bundle_and_old_bundles_have_none(domain):
    again = TrainingDomain.from_dict(json.loads(json.dumps(domain.to_dict())))
    assert again.distribution == domain.distribution
    old = domain.to_dict()
    del old["distribution"]
    assert TrainingDomain.from_dict(old).distribution is None
    assert drift_report(TrainingDomain.from_dict(old), pd.DataFrame()) is None
    assert drift_report(None, pd.DataFrame()) is None


def test_the_same_population_is_stable(domain, frames):
    report = drift_report(domain, frames[1]).set_index("feature")
    assert (report.drop(ANY).psi < MODERATE_PSI).all(), report
    assert report.loc[ANY, "unseen_share"] < 0.01
    assert not report.too_small.any()


def test_shifted_counts_and_new_countries_are_major_drift(domain, frames):
    shifted = frames[1].copy()
    shifted["event_2"] = shifted["event_2"] * 5 + 3
    shifted.loc[shifted.index[:900], "country"] = "zz"  # 30% from a country training never saw
    report = drift_report(domain, shifted.to_dict("records")).set_index("feature")
    assert report.loc["event_2", "psi"] >= MAJOR_PSI and report.loc["event_2", "level"] == "major"
    assert report.loc["country", "unseen_share"] == pytest.approx(0.3)
    assert report.loc["country", "psi"] >= MAJOR_PSI
    assert report.loc[ANY, "unseen_share"] >= 0.3
    assert report.loc["platform", "psi"] < MODERATE_PSI


def test_few_values_are_marked_too_small(domain, frames):
    report = drift_report(domain, frames[1].iloc[:20]).set_index("feature")
    assert report.too_small.all()


def test_a_trained_bundle_stores_the_distribution(small_predictor, synthetic, tmp_path):
    from scorer.predictor import Predictor

    assert small_predictor.domain.distribution is not None
    loaded = Predictor.load(small_predictor.save(tmp_path / "bundle"))
    assert loaded.domain.distribution == small_predictor.domain.distribution
    frame, _ = synthetic
    report = drift_report(loaded.domain, frame.iloc[:1000]).set_index("feature")
    assert (report.drop(ANY).psi < MODERATE_PSI).all()  # its own training rows: no drift


def test_no_recent_inputs_is_a_report_with_every_figure_unknown(domain):
    """A window without predictions (no rows, no columns) is answered, never an error."""
    report = drift_report(domain, pd.DataFrame()).set_index("feature")
    assert report.drop(ANY)["values"].eq(0).all()
    assert report.too_small.all()
    assert np.isnan(report.loc[ANY, "unseen_share"])
