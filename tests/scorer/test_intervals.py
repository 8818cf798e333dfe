"""Mondrian intervals: calibrated per segment, small segments borrow, install never below mean."""

import numpy as np
import pytest

from scorer import intervals as mondrian
from scorer.intervals import MondrianIntervals


def _users(rng, n, country, spread):
    """Events-stage users whose true / predicted ratio is lognormal with `spread`."""
    predicted = rng.uniform(0.5, 2.0, n)
    return {
        "has_events": np.ones(n, bool),
        "country": np.full(n, country, object),
        "platform": np.full(n, "android", object),
        "event_2": rng.integers(1, 200, n).astype(float),
        "event_3": np.zeros(n),
        "y_pred": predicted,
        "y_true": predicted * rng.lognormal(0.0, spread, n),
    }


def _join(*parts):
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _fit(data, **kwargs):
    return MondrianIntervals.fit(
        data["has_events"],
        data["country"],
        data["platform"],
        data["event_2"],
        data["event_3"],
        data["y_true"],
        data["y_pred"],
        **kwargs,
    )


def _coverage(model, data):
    segments = model.segments(
        data["has_events"], data["country"], data["platform"], data["event_2"], data["event_3"]
    )
    lower, upper = model.bounds(segments, data["y_pred"])
    return np.mean((data["y_true"] >= lower) & (data["y_true"] <= upper))


def test_each_segment_gets_its_own_coverage():
    rng = np.random.default_rng(0)
    calibration = _join(_users(rng, 4000, "es", 0.05), _users(rng, 1000, "fr", 0.5))
    model = _fit(calibration)
    for country, spread in (("es", 0.05), ("fr", 0.5)):
        fresh = _users(rng, 20000, country, spread)
        assert _coverage(model, fresh) == pytest.approx(0.8, abs=0.02), country
    # one pooled calibration would cover the noisy country far less
    pooled = {**calibration, "country": np.full(5000, "es", object)}
    assert _coverage(_fit(pooled), _users(rng, 20000, "fr", 0.5)) < 0.6


def test_small_segments_borrow_from_a_coarser_one(monkeypatch):
    rng = np.random.default_rng(1)
    monkeypatch.setattr(mondrian, "MIN_COUNTRY_USERS", 10)
    data = _join(_users(rng, 3000, "es", 0.2), _users(rng, 12, "fr", 0.2))
    model = _fit(data)
    assert "fr" in model.countries  # a group of its own, but too few users to calibrate it
    fr = model.segment_one("early_events", "fr", "android", 50.0)
    assert model.bounds_one(fr, 1.0) == model.bounds_one(
        model.segment_one("early_events", "mx", "android", 50.0), 1.0
    )
    low, high = model.bounds_one(fr, 1.0)
    assert 0 < low < 1 < high


def test_install_upper_bound_is_never_below_the_mean():
    rng = np.random.default_rng(2)
    n = 3000
    predicted = rng.uniform(0.1, 1.0, n)
    paying = rng.random(n) < 0.1  # few payers, heavy tail: the 80% quantile is below the mean
    data = {
        "has_events": np.zeros(n, bool),
        "country": np.full(n, "es", object),
        "platform": np.full(n, "ios", object),
        "event_2": np.full(n, np.nan),
        "event_3": np.full(n, np.nan),
        "y_pred": predicted,
        "y_true": np.where(paying, predicted * 10, 0.0),
    }
    model = _fit(data)
    segments = model.segments(
        **{k: data[k] for k in ("has_events", "country", "platform")},
        event_2=data["event_2"],
        event_3=data["event_3"],
    )
    lower, upper = model.bounds(segments, predicted)
    assert (lower == 0).all() and (upper >= predicted).all()


def test_certain_zeros_get_zero_and_round_trip_keeps_bounds():
    rng = np.random.default_rng(3)
    data = _users(rng, 2000, "es", 0.3)
    model = _fit(data)
    again = MondrianIntervals.from_dict(model.to_dict())
    segment = again.segment_one("early_events", " ES ", "Android", 70.0)
    assert again.bounds_one(segment, 0.0) == (0.0, 0.0)
    assert again.bounds_one(segment, 2.0) == model.bounds_one(segment, 2.0)
    one = [
        model.segment_one("early_events", c, p, e2 + e3)
        for c, p, e2, e3 in zip(
            data["country"], data["platform"], data["event_2"], data["event_3"], strict=True
        )
    ]
    many = model.segments(
        data["has_events"], data["country"], data["platform"], data["event_2"], data["event_3"]
    )
    assert [tuple(r) for r in many.tolist()] == one


def test_single_bounds_are_plain_floats():
    """The API serialises them as they are: numpy scalars would not do."""
    rng = np.random.default_rng(5)
    model = _fit(_users(rng, 500, "es", 0.3))
    bounds = model.bounds_one(model.segment_one("early_events", "es", "ios", 10.0), 1.5)
    assert all(type(b) is float for b in bounds)
