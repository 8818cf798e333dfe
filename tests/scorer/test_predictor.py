"""Behaviour of the predictor: the same answers on both paths, sensible directions, stages; the
`PredictorLike` contract that the real predictor and the tests' fake share."""

import inspect

import numpy as np
import pandas as pd
import pytest

from scorer.data import validate_frame
from scorer.evaluate import drop_events
from scorer.predictor import Estimate, Predictor, PredictorLike
from scorer.schema import RECORD_COLUMNS, STAGE_EVENTS, STAGE_INSTALL


def as_records(frame):
    return [
        {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
        for row in frame[list(RECORD_COLUMNS)].to_dict("records")
    ]


@pytest.fixture(params=["small_predictor", "fake_predictor"])
def any_predictor(request):
    """A real Predictor, then the tests' fake: both must keep the `PredictorLike` contract."""
    return request.getfixturevalue(request.param)


def test_the_predictor_and_its_fake_follow_the_protocol(any_predictor):
    assert isinstance(any_predictor, PredictorLike)
    assert isinstance(any_predictor.version, str) and isinstance(any_predictor.card, dict)
    for name in ("predict_one", "predict_batch"):
        expected = inspect.signature(getattr(PredictorLike, name)).parameters.values()
        found = inspect.signature(getattr(type(any_predictor), name)).parameters.values()
        assert [(p.name, p.kind, p.default) for p in found] == [
            (p.name, p.kind, p.default) for p in expected
        ], name


@pytest.mark.parametrize("at_install", [False, True])
def test_single_and_batch_paths_are_identical(any_predictor, synthetic, at_install):
    frame = synthetic[0].iloc[:400]
    frame = drop_events(frame) if at_install else frame
    batch = any_predictor.predict_batch(frame)
    assert list(batch.columns) == list(Estimate._fields)
    estimates = [any_predictor.predict_one(r) for r in as_records(frame)]
    assert all(isinstance(estimate, Estimate) for estimate in estimates)
    single = pd.DataFrame([estimate._asdict() for estimate in estimates])
    for column in ("predicted_revenue", "lower", "upper", "stage"):
        assert np.array_equal(single[column].to_numpy(), batch[column].to_numpy()), column
    validated = validate_frame(frame).to_dict("records")  # the flags read validated records
    assert [any_predictor.predict_one(r).flags for r in validated] == batch["flags"].tolist()
    assert all(isinstance(flags, list) for flags in batch["flags"])  # what the API/worker store


def test_predictions_are_non_negative_and_intervals_contain_the_mean(small_predictor, synthetic):
    result = small_predictor.predict_batch(synthetic[0])
    assert (result.predicted_revenue >= 0).all()
    assert (result.lower <= result.predicted_revenue).all()
    assert (result.predicted_revenue <= result.upper).all()


def test_more_event_2_never_predicts_less(small_predictor):
    base = {
        "country": "es",
        "platform": "Android",
        "device_family": "Samsung Galaxy Phone",
        "os_version": "10",
        "source": "Organic",
        "event_1": 0,
        "event_3": 1,
    }
    means = [
        small_predictor.predict_one({**base, "event_2": n}).predicted_revenue
        for n in range(0, 400, 3)
    ]
    assert all(b >= a for a, b in zip(means, means[1:], strict=False))


def test_stage_follows_the_presence_of_event_counts(small_predictor):
    record = {"country": "fr", "platform": "iOS"}
    assert small_predictor.predict_one(record).stage == STAGE_INSTALL
    assert small_predictor.predict_one({**record, "event_2": 4}).stage == STAGE_EVENTS


def test_no_exposure_is_a_certain_zero(small_predictor):
    answer = small_predictor.predict_one(
        {"country": "es", "event_1": 0, "event_2": 0, "event_3": 0}
    )
    assert tuple(answer[:3]) == (0.0, 0.0, 0.0)
    unknown_3 = small_predictor.predict_one({"country": "es", "event_2": 0})
    assert unknown_3.predicted_revenue > 0


def test_unseen_and_missing_categories_still_predict(small_predictor):
    odd = {
        "country": "zz",
        "platform": "Windows",
        "device_family": "Nokia 3310",
        "os_version": "weird",
        "source": "tv",
        "country_region": "Atlantis",
        "event_2": 10,
    }
    for record in (odd, {"event_2": 10}, {}):
        answer = small_predictor.predict_one(record)
        assert np.isfinite(answer.predicted_revenue) and answer.predicted_revenue > 0


def test_casing_and_spacing_do_not_change_predictions(small_predictor):
    a = {"country": "es", "platform": "iOS", "device_family": "Apple iPhone", "event_2": 20}
    b = {"country": " ES ", "platform": "ios", "device_family": "apple iphone", "event_2": 20}
    assert small_predictor.predict_one(a) == small_predictor.predict_one(b)


def test_batch_accepts_a_mapping_of_columns(small_predictor):
    result = small_predictor.predict_batch(
        {
            "country": ["es", "fr"],
            "country_region": [None, None],
            "source": [None, None],
            "platform": ["ios", "android"],
            "device_family": [None, None],
            "os_version": [None, None],
            "event_2": [3, None],
        }
    )
    assert result.stage.tolist() == [STAGE_EVENTS, STAGE_INSTALL]


def test_save_and_load_round_trip(small_predictor, synthetic, tmp_path):
    small_predictor.save(tmp_path / "bundle")
    loaded = Predictor.load(tmp_path / "bundle")
    frame = synthetic[0].iloc[:200]
    pd.testing.assert_frame_equal(loaded.predict_batch(frame), small_predictor.predict_batch(frame))
    assert loaded.version == "test-small"


def test_loading_a_missing_bundle_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model bundle"):
        Predictor.load(tmp_path)
