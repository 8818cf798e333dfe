"""Model behaviour tests on the committed bundle (models/d7): it loads without the data, meets
the targets of its own model card, and behaves sensibly on real records."""

import json

import numpy as np
import pytest
import xgboost as xgb

from scorer.data import read_records
from scorer.evaluate import drop_events

from support.paths import MODEL_DIR

BUNDLE = MODEL_DIR
TARGETS = {  # (stage, subset, metric): (low, high) from the model-core issue
    ("early_events", "all", "mae"): (0, 3.0),
    ("early_events", "all", "r2"): (0.985, 1),
    ("early_events", "excl_anomalous", "gini"): (0.996, 1),
    ("early_events", "excl_anomalous", "spearman"): (0.978, 1),
    ("early_events", "excl_anomalous", "decile_mape"): (0, 0.05),
    ("early_events", "excl_anomalous", "total_ratio"): (0.97, 1.03),
    ("early_events", "all", "total_ratio"): (0.90, 1.10),
    ("install", "excl_anomalous", "gini"): (0.28, 1),
    ("early_events", "excl_anomalous", "coverage_80"): (0.75, 0.85),
}


def test_bundle_is_small_and_complete():
    size = sum(f.stat().st_size for f in BUNDLE.iterdir())
    assert size < 5_000_000
    card = json.loads((BUNDLE / "model_card.json").read_text())
    for key in ("version", "trained_at", "data", "cv", "features", "libraries", "config"):
        assert key in card


@pytest.mark.parametrize("key", sorted(TARGETS))
def test_card_meets_the_targets(key):
    stage, subset, metric = key
    card = json.loads((BUNDLE / "model_card.json").read_text())
    value = card["cv"]["metrics"][stage][subset][metric]["mean"]
    low, high = TARGETS[key]
    assert low <= value <= high, f"{key} = {value}"


def test_cv_protocol_is_five_folds_three_repeats():
    card = json.loads((BUNDLE / "model_card.json").read_text())
    assert card["cv"]["protocol"].startswith("5-fold x 3 repeated")


def test_flat_forest_matches_the_trained_model(predictor, dataset_path):
    """The trained trees' margin (XGBoost's own predict), plus the offset in float64, to 1e-6.

    Feeding the offset to XGBoost as base_margin would add float32 rounding of its own (up to
    ~4e-5 relative for large offsets), which is why both of our paths add it in float64.
    """
    frame = read_records(dataset_path).iloc[:3000]
    for stage, key in (("early_events", "events"), ("install", "install")):
        source = frame if stage == "early_events" else drop_events(frame)
        features = predictor.pipeline.build_frame(source)
        names = predictor.boosters[stage].feature_names
        margin = predictor.boosters[stage].predict(
            xgb.DMatrix(features[key], feature_names=names), output_margin=True
        )
        expected = np.exp(margin.astype(float) + features[f"{key}_offset"])
        mine = np.exp(
            np.array([predictor.forests[stage].margin_one(r) for r in features[key]])
            + features[f"{key}_offset"]
        )
        np.testing.assert_allclose(mine, expected, rtol=1e-6)
        ours = predictor.predict_batch(source)["predicted_revenue"].to_numpy()
        zero = features["zero"]
        np.testing.assert_allclose(ours[~zero], expected[~zero], rtol=1e-6)


def test_more_events_never_predict_less_on_real_users(predictor, dataset_path):
    records = read_records(dataset_path).sample(300, random_state=0).to_dict("records")
    for record in records:
        record = {k: (None if isinstance(v, float) and v != v else v) for k, v in record.items()}
        for column in ("event_2", "event_3"):
            if record[column] is None:
                continue
            means = [
                predictor.predict_one({**record, column: n}).predicted_revenue
                for n in (0, 1, 2, 5, 10, 30, 100, 300, 1000)
            ]
            assert all(b >= a for a, b in zip(means, means[1:], strict=False)), (record, column)


def test_anomalous_country_keeps_its_own_scale(predictor):
    base = {
        "platform": "Android",
        "device_family": "Samsung Galaxy Phone",
        "os_version": "10",
        "source": "Organic",
        "event_1": 0,
        "event_2": 50,
        "event_3": 1,
    }
    peru = predictor.predict_one({**base, "country": "pe"}).predicted_revenue
    spain = predictor.predict_one({**base, "country": "es"}).predicted_revenue
    assert peru / spain > 10_000
    assert 0.01 < spain < 1


def test_intervals_hold_per_segment_in_repeated_cv():
    """The targets of the intervals issue, on the card's held-out coverage per segment."""
    entry = json.loads((BUNDLE / "model_card.json").read_text())["intervals"]
    rows = entry["segments"]
    for stage in ("early_events", "install"):
        overall = next(r for r in rows if r["stage"] == stage and r["kind"] == "all")
        assert 0.78 <= overall["coverage"] <= 0.82, overall
    judged = [r for r in rows if r["users"] >= 200 and r["kind"] != "all"]
    assert len(judged) >= 20
    for row in judged:
        assert 0.72 <= row["coverage"] <= 0.88, row
    assert entry["worst"] in judged


def test_install_upper_bound_is_never_below_the_mean(predictor, dataset_path):
    frame = drop_events(read_records(dataset_path))
    predicted = predictor.predict_batch(frame)
    assert (predicted.upper >= predicted.predicted_revenue).all()
    assert (predicted.lower <= predicted.predicted_revenue).all()
