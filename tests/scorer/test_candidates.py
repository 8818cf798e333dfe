"""Baselines and candidates: the interface of the predictor, the production code path where they
claim it, and the arithmetic of the simple ones."""

import numpy as np
import pandas as pd
import pytest

from scorer.analysis.candidates import (
    BoostedCandidate,
    CountryRateBaseline,
    MeanBaseline,
    contenders,
    leakage_contenders,
    tweedie,
)
from scorer.analysis.hurdle import HurdleCandidate
from scorer.evaluate import cross_validate, drop_events
from scorer.features import FeaturePipeline
from scorer.schema import TEXT_COLUMNS
from scorer.train import fit_models

pytestmark = pytest.mark.slow  # fits every candidate model

COLUMNS = ["predicted_revenue", "lower", "upper", "stage", "flags"]


def records(**columns):
    """A frame with every text column blank unless given."""
    count = len(next(iter(columns.values())))
    frame = pd.DataFrame({name: [None] * count for name in TEXT_COLUMNS})
    for name, values in columns.items():
        frame[name] = values
    return frame


@pytest.fixture(scope="module")
def fitted(synthetic, small_config):
    frame, revenue = synthetic
    return {c.name: (c, c.fit(frame, revenue)) for c in contenders(small_config)}


def test_the_tweedie_candidate_is_the_production_model(synthetic, small_config):
    frame, revenue = synthetic
    power = small_config.events.tweedie_variance_power
    mine = BoostedCandidate.fit(frame, revenue, tweedie(power), small_config)
    production = fit_models(frame, revenue, small_config, small_config.threads)
    for source in (frame, drop_events(frame)):
        np.testing.assert_allclose(
            mine.predict_batch(source)["predicted_revenue"],
            production.predict_batch(source)["predicted_revenue"],
            rtol=1e-6,
        )


def test_contenders_are_baselines_candidates_and_one_chosen_model(small_config):
    roles = [c.role for c in contenders(small_config)]
    assert roles.count("chosen") == 1 and roles[-1] == "chosen"
    assert roles.count("baseline") == 3 and roles.count("candidate") >= 4
    names = [c.name for c in contenders(small_config)]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("at_install", [False, True])
def test_every_contender_answers_like_the_predictor(fitted, synthetic, at_install):
    frame = synthetic[0].iloc[100:600]
    frame = drop_events(frame) if at_install else frame
    for name, (contender, model) in fitted.items():
        result = model.predict_batch(frame)
        assert list(result.columns) == COLUMNS, name
        assert result.index.equals(frame.index), name
        assert (result.stage == ("install" if at_install else "early_events")).all(), name
        assert np.isfinite(result.predicted_revenue).all(), name
        assert (result.predicted_revenue >= 0).all(), name
        assert result.lower.notna().all() == contender.intervals, name


def test_models_with_the_structural_zero_rule_predict_zero_without_exposure(fitted, synthetic):
    frame = synthetic[0]
    none = ((frame.event_2 == 0) & (frame.event_3 == 0)).to_numpy()
    assert none.any()
    for name in ("Poisson + offset", "hurdle: logistic x gamma + offset"):
        predicted = fitted[name][1].predict_batch(frame)["predicted_revenue"].to_numpy()
        assert (predicted[none] == 0).all() and (predicted[~none] > 0).all()


def test_mean_baseline_predicts_the_training_mean():
    frame = records(country=["es", "fr"]).assign(event_2=[1.0, 2.0])
    model = MeanBaseline.fit(frame, np.array([1.0, 3.0]))
    assert model.predict_batch(frame)["predicted_revenue"].tolist() == [2.0, 2.0]


def test_country_rate_baseline_multiplies_event_2_by_the_country_rate():
    frame = records(country=["es", "ES", "fr", "fr", "fr"]).assign(event_2=[10.0, 30, 10, 10, 0])
    model = CountryRateBaseline.fit(frame, np.array([1.0, 3, 4, 4, 0]))
    assert model.rate == pytest.approx({"es": 0.1, "fr": 0.4})
    new = records(country=["es", "fr", "zz"]).assign(event_2=[5.0, 5.0, 5.0])
    # an unseen country takes the user-weighted median rate (fr: 3 users of 5)
    assert model.predict_batch(new)["predicted_revenue"].tolist() == pytest.approx([0.5, 2.0, 2.0])
    at_install = model.predict_batch(drop_events(new))
    assert at_install["predicted_revenue"].tolist() == pytest.approx([2.0, 8 / 3, 8 / 3])
    assert (at_install.stage == "install").all()


@pytest.mark.parametrize("kind", ["gamma", "lognormal"])
def test_hurdle_models_learn_the_synthetic_structure(synthetic, small_config, kind):
    frame, revenue = synthetic
    cv = cross_validate(
        frame,
        revenue,
        lambda f, r: HurdleCandidate.fit(f, r, kind, small_config),
        repeats=1,
        progress=False,
    )
    events = cv.summary()["early_events"]["all"]
    assert events["spearman"]["mean"] > 0.95
    assert abs(events["total_ratio"]["mean"] - 1) < 0.1
    install = cv.summary()["install"]["all"]
    assert abs(install["total_ratio"]["mean"] - 1) < 0.5


def test_hurdle_without_zeros_needs_no_classifier(synthetic, small_config):
    frame, revenue = synthetic
    model = HurdleCandidate.fit(frame, revenue, "lognormal", small_config)
    exposed = ((frame.event_2 > 0) | (frame.event_3 > 0) | frame.event_3.isna()).to_numpy()
    all_positive = (revenue[exposed] > 0).all()
    assert (model.parts["early_events"].probability is None) == all_positive
    assert model.parts["install"].probability is not None
    assert set(model.parts["early_events"].sigma2) >= {0.0, 1.0, "pooled"}
    with pytest.raises(ValueError, match="kind"):
        HurdleCandidate.fit(frame, revenue, "normal", small_config)


def test_leaky_contender_fits_its_priors_on_every_row(synthetic, small_config):
    frame, revenue = synthetic
    honest, leaky = leakage_contenders(frame, revenue, small_config)
    everything = FeaturePipeline.fit(frame, revenue, small_config.k_rate, small_config.k_revenue)
    part = FeaturePipeline.fit(
        frame.iloc[:1000], revenue[:1000], small_config.k_rate, small_config.k_revenue
    )
    assert leaky.fit(frame.iloc[:1000], revenue[:1000]).pipeline.to_dict() == everything.to_dict()
    assert honest.fit(frame.iloc[:1000], revenue[:1000]).pipeline.to_dict() == part.to_dict()
