"""The one stand-in for `scorer.predictor.Predictor` in unit tests (it follows `PredictorLike`),
with an obvious formula: revenue is event_1 + 10 * event_2 (unknown counts are 0), interval
[0.5x, 2x], stage `early_events` when event_2 is known, flags by country (`FAKE_FLAGS`).
Integration tests and benchmarks use the real Predictor with the committed bundle instead."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from scorer.predictor import Estimate
from scorer.schema import STAGE_EVENTS, STAGE_INSTALL

VERSION = "fake-1"
CARD = {"version": VERSION, "target": "D7 revenue", "metrics": {"mae": 0.1}}
FAKE_FLAGS = {"pe": ["anomalous_country_rate"], "zz": ["unseen_country"]}
"""The fake's flags, by country (every other country has none)."""


def fake_flags(country: Any) -> list[str]:
    """The fake's anomaly flags of a user of `country` (a fresh list)."""
    return list(FAKE_FLAGS.get(country, []))


def fake_revenue(event_1, event_2):
    """The fake's mean prediction from the first two event counts (unknown ones already 0);
    numbers or pandas Series alike."""
    return event_1 + 10 * event_2


class FakePredictor:
    """Records the size of each `predict_batch` call and whether its frame came `validated`."""

    version = VERSION

    def __init__(self) -> None:
        self.card = dict(CARD)
        self.batch_sizes: list[int] = []
        self.validated: list[bool] = []

    def predict_one(self, record: Mapping[str, Any]) -> Estimate:
        event_2 = record.get("event_2")
        revenue = float(fake_revenue(record.get("event_1") or 0.0, event_2 or 0.0))
        stage = STAGE_EVENTS if event_2 is not None else STAGE_INSTALL
        return Estimate(
            revenue, revenue * 0.5, revenue * 2.0, stage, fake_flags(record.get("country"))
        )

    def predict_batch(
        self, frame: pd.DataFrame | Mapping[str, Sequence], validated: bool = False
    ) -> pd.DataFrame:
        frame = pd.DataFrame(frame)
        self.batch_sizes.append(len(frame))
        self.validated.append(validated)
        event_1 = pd.to_numeric(frame["event_1"]).fillna(0.0)
        event_2 = pd.to_numeric(frame["event_2"])
        revenue = fake_revenue(event_1, event_2.fillna(0.0)).astype(float)
        stage = event_2.notna().map({True: STAGE_EVENTS, False: STAGE_INSTALL})
        flags = [fake_flags(country) for country in frame["country"]]
        estimate = Estimate(revenue, revenue * 0.5, revenue * 2.0, stage, flags)
        return pd.DataFrame(estimate._asdict(), index=frame.index)
