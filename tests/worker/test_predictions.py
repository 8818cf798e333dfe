"""`worker.predictions`: the validated frame handed to the real Predictor, and the rows built
from its answer."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from adapters.stream import decode_install_event, encode_install_event
from scorer.data import validate_frame
from scorer.schema import InstallRecord
from worker.predictions import predict_events, records_frame

from support.streams import synthetic_installs


def stream_records(count, seed=3):
    """InstallRecords as the worker gets them: encoded to stream text and validated back."""
    records = synthetic_installs(count, seed)
    records[0].update(user_id=None, country=" es ", event_1=None, event_2=None, event_3=None)
    if count > 1:
        records[1].update(os_version="14.4", event_1=0.0, event_2=3.0, event_3=None)
    return [
        InstallRecord(**decode_install_event(encode_install_event(record)).record)
        for record in records
    ]


@pytest.mark.parametrize("count", [1, 2, 60])
def test_records_frame_is_what_validate_frame_returns(count):
    inputs = [record.model_dump() for record in stream_records(count)]
    expected = validate_frame(pd.DataFrame(inputs))
    pd.testing.assert_frame_equal(records_frame(inputs), expected)


@pytest.mark.parametrize("count", [3, 200])  # the flat-forest and the XGBoost paths
def test_validated_frame_gives_the_same_predictions(predictor, count):
    inputs = [record.model_dump() for record in stream_records(count)]
    fast = predictor.predict_batch(records_frame(inputs), validated=True)
    checked = predictor.predict_batch(pd.DataFrame(inputs))
    pd.testing.assert_frame_equal(fast, checked)


def test_score_makes_one_row_per_record_in_order(predictor):
    records = stream_records(5)
    times = [datetime(2025, 1, 1, tzinfo=UTC) + timedelta(minutes=i) for i in range(5)]
    rows = predict_events(predictor, records, [f"e{i}" for i in range(5)], times, source="stream")
    assert [row["event_id"] for row in rows] == [f"e{i}" for i in range(5)]
    assert [row["event_time"] for row in rows] == times
    assert [row["input"] for row in rows] == [record.model_dump() for record in records]
    one_by_one = [predictor.predict_one(record.model_dump()) for record in records]
    for row, expected in zip(rows, one_by_one, strict=True):
        assert row["predicted_revenue"] == pytest.approx(expected.predicted_revenue, rel=1e-6)
        assert row["stage"] == expected.stage and row["source"] == "stream"
    assert predict_events(predictor, [], [], [], source="stream") == []
