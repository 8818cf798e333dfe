"""Contributions add up to the prediction, on the log scale where the model is additive."""

import numpy as np
import pandas as pd
import pytest

from scorer.analysis import explain
from scorer.evaluate import drop_events


@pytest.mark.parametrize("stage", ["early_events", "install"])
def test_contributions_add_up_to_the_log_prediction(small_predictor, synthetic, stage):
    frame = synthetic[0].iloc[:600]
    contribs = explain.contributions(small_predictor, frame, stage)
    source = frame if stage == "early_events" else drop_events(frame)
    predicted = small_predictor.predict_batch(source)["predicted_revenue"]
    np.testing.assert_allclose(
        contribs.sum(axis=1), np.log(predicted.loc[contribs.index]), rtol=1e-5, atol=1e-5
    )
    assert explain.PRIOR in contribs and explain.TREES_BASE in contribs
    assert (explain.EXPOSURE in contribs) == (stage == "early_events")


def test_the_events_stage_leaves_structural_zeros_to_the_rule(small_predictor, synthetic):
    frame = synthetic[0].iloc[:600]
    contribs = explain.contributions(small_predictor, frame, "early_events")
    none = frame[(frame.event_2 == 0) & (frame.event_3 == 0)].index
    assert len(none) and not set(none) & set(contribs.index)
    assert len(explain.contributions(small_predictor, frame, "install")) == len(frame)
    with pytest.raises(ValueError):
        explain.contributions(small_predictor, frame, "later")


def test_importance_and_one_user(small_predictor, synthetic):
    frame = synthetic[0].iloc[:600]
    contribs = explain.contributions(small_predictor, frame, "early_events")
    importance = explain.importance(contribs)
    assert importance["mean |log contribution|"].is_monotonic_decreasing
    assert explain.TREES_BASE not in importance.index
    trees = explain.tree_importance(contribs)
    assert explain.PRIOR not in trees.index and explain.EXPOSURE not in trees.index
    values = explain.feature_values(small_predictor, frame, "early_events")
    assert values.index.equals(contribs.index)
    row = contribs.index[3]
    table = explain.explain_user(contribs, values, row)
    predicted = small_predictor.predict_batch(frame.loc[[row]])["predicted_revenue"].iloc[0]
    assert table.loc["= predicted revenue", "factor"] == pytest.approx(predicted, rel=1e-5)
    assert table.loc["event_2", "value"] == frame.loc[row, "event_2"]


def test_example_users(small_predictor, synthetic):
    frame = synthetic[0].iloc[:600]
    contribs = explain.contributions(small_predictor, frame, "early_events")
    flagged = pd.Series(frame.country == "us", index=frame.index)
    picks = explain.example_users(contribs, flagged)
    assert set(picks) == {
        "median prediction",
        "largest correction by the trees",
        "anomalous country",
    }
    assert flagged[picks["anomalous country"]] and not flagged[picks["median prediction"]]


def test_what_the_pipeline_makes_of_records(small_predictor):
    base = {
        "country": "es",
        "platform": "iOS",
        "device_family": "Apple iPhone",
        "os_version": "14.4",
    }
    table = explain.describe_records(
        small_predictor.pipeline,
        {
            "install": base,
            "events": {**base, "event_2": 10, "event_3": 1},
            "none": {**base, "event_2": 0, "event_3": 0},
            "unseen": {"country": "zz", "device_family": "Acme 1", "event_2": 10, "event_3": 1},
        },
    )
    assert table.stage.tolist() == ["install", "early_events", "early_events", "early_events"]
    assert table["structural zero"].tolist() == [False, False, True, False]
    assert table.loc["unseen", "brand"] == -1
    assert np.isnan(table.loc["install", "event_2"])


def test_prior_rates_fall_back_to_the_parent(small_predictor):
    pipeline = small_predictor.pipeline
    table = explain.prior_rates(pipeline, [("es", "ios"), ("zz", "ios")])
    assert table.loc[("zz", "ios"), "revenue per exposure event"] == pytest.approx(
        np.exp(pipeline.rate_prior.top)
    )
    assert table.loc[("es", "ios"), "revenue per user"] > 0
