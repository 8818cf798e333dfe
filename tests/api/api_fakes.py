"""A stand-in for `scorer.predictor.Predictor` in unit tests: same interface, simple arithmetic.

Integration tests and benchmarks use the real Predictor with the committed bundle instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

import pandas as pd

from scorer.schema import STAGE_EVENTS, STAGE_INSTALL


class Prediction(NamedTuple):  # the shape of scorer.predictor.Estimate
    predicted_revenue: float
    lower: float
    upper: float
    stage: str
    flags: list[str]


FAKE_FLAGS = {"pe": ["anomalous_country_rate"], "zz": ["unseen_country"]}
"""The fakes' flags, by country (every other country has none)."""


class FakePredictor:
    version = "fake-1"
    card = {"version": "fake-1", "target": "D7 revenue", "metrics": {"mae": 0.1}}

    def __init__(self) -> None:
        self.calls = 0

    def predict_one(self, record: Mapping[str, Any]) -> Prediction:
        self.calls += 1
        stage = STAGE_EVENTS if record.get("event_2") is not None else STAGE_INSTALL
        events = sum(record.get(name) or 0.0 for name in ("event_1", "event_2", "event_3"))
        base = 0.5 if stage == STAGE_INSTALL else 0.5 + 0.25 * events
        flags = list(FAKE_FLAGS.get(record.get("country"), []))
        return Prediction(base, base * 0.5, base * 2.0, stage, flags)

    def predict_batch(self, frame) -> pd.DataFrame:
        rows = [self.predict_one(row) for row in pd.DataFrame(frame).to_dict("records")]
        return pd.DataFrame(rows, columns=list(Prediction._fields))
