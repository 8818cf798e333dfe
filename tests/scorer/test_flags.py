"""Anomaly flags: what the training domain holds, which records get which flag (one record and a
frame agree), the anomalous-country policy, and bundles with and without a stored domain."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from scorer.data import validate_frame
from scorer.domain import TrainingDomain
from scorer.flags import FLAG_SEPARATOR, FLAGS, Flag
from scorer.predictor import MEAN, PIPELINE_FILE, Predictor

USER = {
    "user_id": "u1",
    "country": "es",
    "country_region": "North",
    "source": "Organic",
    "platform": "android",
    "device_family": "Samsung Galaxy Phone",
    "os_version": "10",
    "event_1": 1.0,
    "event_2": 5.0,
    "event_3": 0.0,
}


def with_card(predictor: Predictor, policy: str = "flag", **card) -> Predictor:
    """The same fitted models, with another card and policy."""
    return Predictor(
        predictor.pipeline,
        predictor.boosters,
        predictor.intervals,
        {**predictor.card, **card},
        predictor.domain,
        policy,
    )


@pytest.fixture(scope="module")
def flagging(small_predictor):
    return with_card(small_predictor, anomalous_countries=["fr"])


def flags_both_ways(predictor: Predictor, records: list[dict]) -> list[list[str]]:
    """Flags of `predict_one` for each record, checked equal to `predict_batch`'s."""
    one = [
        predictor.predict_one(validate_frame(pd.DataFrame([r])).iloc[0].to_dict()) for r in records
    ]
    batch = predictor.predict_batch(pd.DataFrame(records))
    assert [estimate.flags for estimate in one] == batch["flags"].tolist()
    np.testing.assert_allclose([e.predicted_revenue for e in one], batch[MEAN], rtol=1e-5)
    return batch["flags"].tolist()


def test_the_domain_holds_the_training_categories_and_count_ranges(synthetic):
    frame, _ = synthetic
    domain = TrainingDomain.fit(validate_frame(frame))
    assert {"es", "fr", "us"} <= domain.categories["country"]
    assert domain.categories["platform"] == {"android", "ios"}
    assert domain.count_ranges["event_2"] == (frame.event_2.min(), frame.event_2.max())
    assert TrainingDomain.from_dict(json.loads(json.dumps(domain.to_dict()))) == domain


def test_an_ordinary_user_has_no_flag(flagging):
    assert flags_both_ways(flagging, [USER, {**USER, "country": "ES "}]) == [[], []]


@pytest.mark.parametrize(
    ("change", "flag"),
    [
        ({"country": "zz", "country_region": None}, [Flag.UNSEEN_COUNTRY]),
        ({"country": "zz"}, [Flag.UNSEEN_COUNTRY, Flag.UNSEEN_REGION]),  # not there either
        ({"country_region": "Atlantis"}, Flag.UNSEEN_REGION),
        ({"platform": "windows"}, Flag.UNSEEN_PLATFORM),
        ({"source": "billboard"}, Flag.UNSEEN_SOURCE),
        ({"device_family": "Nokia 3310"}, Flag.UNSEEN_DEVICE_FAMILY),
        ({"os_version": "97.3"}, Flag.UNSEEN_OS_VERSION),
    ],
)
def test_a_category_never_seen_in_training_is_flagged_by_name(flagging, change, flag):
    expected = flag if isinstance(flag, list) else [flag]
    assert flags_both_ways(flagging, [{**USER, **change}, USER]) == [expected, []]


def test_blank_categories_are_unknown_not_unseen(flagging):
    blank = {name: None for name in ("country_region", "source", "device_family", "os_version")}
    assert flags_both_ways(flagging, [{**USER, **blank}]) == [[]]


def test_event_counts_outside_the_training_range_are_flagged(flagging, synthetic):
    frame, _ = synthetic
    top = float(frame.event_2.max())
    records = [{**USER, "event_2": top}, {**USER, "event_2": top + 1}, {**USER, "event_1": 1e5}]
    above = Flag.EVENT_COUNT_ABOVE_TRAINING
    assert flags_both_ways(flagging, records) == [[], [above], [above]]
    narrow = with_card(flagging)
    narrow.domain = TrainingDomain(flagging.domain.categories, {"event_2": (3.0, 10.0)})
    narrow.card = narrow.card  # rebuilds the flagger
    assert narrow.predict_one({**USER, "event_2": 2.0}).flags == [Flag.EVENT_COUNT_BELOW_TRAINING]
    assert narrow.predict_one({**USER, "event_2": None}).flags == []  # install stage: no counts


def test_an_anomalous_country_is_flagged_first_and_kept_by_default(flagging, small_predictor):
    records = [{**USER, "country": "fr"}, {**USER, "country": "fr", "os_version": "97"}]
    assert flags_both_ways(flagging, records) == [
        [Flag.ANOMALOUS_COUNTRY_RATE],
        [Flag.ANOMALOUS_COUNTRY_RATE, Flag.UNSEEN_OS_VERSION],
    ]
    plain = small_predictor.predict_one(records[0])
    assert flagging.predict_one(records[0]).predicted_revenue == plain.predicted_revenue


def test_the_typical_rate_policy_replaces_the_country_rate_and_says_so(flagging):
    replacing = with_card(flagging, policy="typical_rate")
    french = [{**USER, "country": "fr"}, {**USER, "country": "fr", "event_2": None}]
    unknown = [{**record, "country": None} for record in french]
    assert flags_both_ways(replacing, french) == [[Flag.ANOMALOUS_COUNTRY_RATE_REPLACED]] * 2
    for record, stand_in in zip(french, unknown, strict=True):
        replaced = replacing.predict_one(record)
        assert replaced[:4] == flagging.predict_one(stand_in)[:4]
        assert replaced.predicted_revenue != flagging.predict_one(record).predicted_revenue
    assert replacing.predict_one(USER) == flagging.predict_one(USER)  # others untouched


def test_an_unknown_policy_is_refused(flagging):
    with pytest.raises(ValueError, match="anomalous_country_policy must be one of"):
        with_card(flagging, policy="drop")


def test_the_domain_is_saved_with_the_bundle_and_an_old_bundle_still_loads(flagging, tmp_path):
    flagging.save(tmp_path / "new")
    loaded = Predictor.load(tmp_path / "new", "typical_rate")
    assert loaded.domain == flagging.domain and loaded.anomalous_country_policy == "typical_rate"
    record = {**USER, "country": "zz", "event_2": 1e5}
    assert loaded.predict_one(record).flags == flagging.predict_one(record).flags
    state = json.loads((tmp_path / "new" / PIPELINE_FILE).read_text())
    del state["domain"]
    (tmp_path / "new" / PIPELINE_FILE).write_text(json.dumps(state))
    old = Predictor.load(tmp_path / "new")
    assert old.domain is None  # its priors still know the countries; no range, no other category
    assert old.predict_one(record).flags == [Flag.UNSEEN_COUNTRY]
    assert old.predict_one({**record, "country": "fr"}).flags == [Flag.ANOMALOUS_COUNTRY_RATE]
    assert old.predict_batch(pd.DataFrame([record]))["flags"].tolist() == [[Flag.UNSEEN_COUNTRY]]


def test_flags_are_declared_once_with_a_meaning_and_csv_safe_codes():
    assert len({str(flag) for flag in FLAGS}) == len(FLAGS)
    for flag in FLAGS:
        assert flag.meaning and flag.islower() and FLAG_SEPARATOR not in flag and "," not in flag
