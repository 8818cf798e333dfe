"""Test doubles and data for the worker tests: a fake Predictor with the real interface for
unit tests, install records and a way to push them onto the stream."""

from __future__ import annotations

import pandas as pd

from adapters.stream import EventStream, encode_install_event

FAKE_FLAGS = {"pe": ["anomalous_country_rate"], "zz": ["unseen_country"]}


class FakePredictor:
    """Same interface as scorer.predictor.Predictor, with an obvious formula: revenue is
    event_1 + 10 * event_2 (unknown counts are 0), interval [0.5x, 2x]; country `pe` is flagged
    anomalous, `zz` unseen."""

    version = "fake-1"
    card = {"version": "fake-1"}

    def __init__(self):
        self.batch_sizes: list[int] = []
        self.validated: list[bool] = []

    def predict_batch(self, frame, validated=False):
        frame = pd.DataFrame(frame)
        self.batch_sizes.append(len(frame))
        self.validated.append(validated)
        event_1 = pd.to_numeric(frame["event_1"]).fillna(0.0)
        event_2 = pd.to_numeric(frame["event_2"])
        revenue = event_1 + 10 * event_2.fillna(0.0)
        stage = event_2.notna().map({True: "early_events", False: "install"})
        return pd.DataFrame(
            {
                "predicted_revenue": revenue.astype(float),
                "lower": revenue * 0.5,
                "upper": revenue * 2.0,
                "stage": stage,
                "flags": [list(FAKE_FLAGS.get(country, [])) for country in frame["country"]],
            },
            index=frame.index,
        )


def install(user_id: str | None, event_1=None, event_2=None, **extra) -> dict:
    record = {
        "user_id": user_id,
        "country": "US",
        "platform": "iOS",
        "source": "Organic",
        "event_1": event_1,
        "event_2": event_2,
    }
    record.update(extra)
    return record


def push_installs(client, settings, records, event_ids=None) -> list[str]:
    stream = EventStream(client, settings.installs_stream, settings.stream_maxlen)
    event_ids = event_ids or [None] * len(records)
    return stream.append_many(
        encode_install_event(record, event_id=event_id)
        for record, event_id in zip(records, event_ids, strict=True)
    )
