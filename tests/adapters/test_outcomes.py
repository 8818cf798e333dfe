"""The outcomes table and the matches it keeps, on SQLite and on Postgres: one outcome per user,
corrections replace and say when, each outcome matched with the newest prediction of each stage
made before it, the rest counted (no prediction, overdue, awaiting)."""

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from adapters.matches import OTHER_COLUMNS, SHOWN_AS, matched_rows
from adapters.outcomes import OutcomeStore, decode_outcome, encode_outcome
from adapters.store import PredictionStore, make_engine
from adapters.stream import StreamDecodeError

DATABASES = ["sqlite_url", pytest.param("database_url", marks=pytest.mark.integration)]
DAY = date(2026, 11, 20)
START = datetime(2026, 11, 20, 9, tzinfo=UTC)


def prediction(user, stage, hours, revenue, event=None, happened=None):
    """A prediction made `hours` after START, of an event `happened` hours after START (by
    default when it was made)."""
    made = START + timedelta(hours=hours)
    return {
        "event_id": event or f"{user}-{stage}-{hours}",
        "user_id": user,
        "source": "stream",
        "stage": stage,
        "input": {"country": "es", "platform": "ios", "source": "Organic"},
        "predicted_revenue": revenue,
        "lower": 0.0 if revenue == 0 else revenue / 2,
        "upper": 0.0 if revenue == 0 else revenue * 2,
        "model_version": "v1",
        "created_at": made,
        "event_time": made if happened is None else START + timedelta(hours=happened),
    }


@pytest.fixture(params=DATABASES)
def engine(request):
    engine = make_engine(request.getfixturevalue(request.param))
    yield engine
    engine.dispose()


def test_the_stream_codec_round_trips_and_names_bad_fields():
    fields = encode_outcome({"user_id": "u", "revenue": 0.25, "install_date": DAY, "x": 1})
    assert fields == {"user_id": "u", "revenue": "0.25", "install_date": "2026-11-20"}
    assert decode_outcome({k.encode(): v.encode() for k, v in fields.items()}) == {
        "user_id": "u", "revenue": 0.25, "install_date": DAY,
    }  # fmt: skip
    with pytest.raises(StreamDecodeError, match="install_date"):
        decode_outcome({b"user_id": b"u", b"revenue": b"1", b"install_date": b"soon"})


def test_one_outcome_per_user_and_corrections_say_when(engine):
    store = OutcomeStore(engine)
    first = {"user_id": "u1", "revenue": 1.0, "install_date": DAY}
    assert store.write([first, {"user_id": "u2", "revenue": 0.0}]) == (2, 0)
    assert store.write([first]) == (0, 0)  # the same again: nothing changes
    assert store.get("u1")["corrected_at"] is None
    assert store.write([dict(first, revenue=3.0), dict(first, revenue=2.0)]) == (0, 1)
    assert store.get("u1")["revenue"] == 2.0  # the last of a batch wins
    assert store.get("u1")["corrected_at"] is not None and store.count() == 2


def test_each_outcome_meets_the_newest_prediction_of_each_stage_made_before_it(engine):
    PredictionStore(engine).save_many(
        [
            prediction("u1", "install", 0, 1.0),
            prediction("u1", "early_events", 1, 2.0),
            prediction("u1", "early_events", 2, 3.0),  # the newest before the outcome
            prediction("late", "install", 0, 5.0),
            prediction("waiting", "install", 0, 4.0),
        ]
    )
    store = OutcomeStore(engine)
    store.write([{"user_id": "u1", "revenue": 2.5, "install_date": DAY},
                 {"user_id": "nobody", "revenue": 1.0, "install_date": DAY}])  # fmt: skip
    PredictionStore(engine).save_many(
        [prediction("u1", "early_events", 20 * 24, 9.0, event="after-the-outcome")]
    )
    today = DAY + timedelta(days=3)
    rows = matched_rows(engine, DAY, DAY, today).sort_values(["user_id", "stage"])
    by_user = {
        (r.user_id, r.stage if isinstance(r.stage, str) else None): r for r in rows.itertuples()
    }
    assert by_user[("u1", "early_events")].predicted_revenue == 3.0
    assert by_user[("u1", "install")].predicted_revenue == 1.0
    assert by_user[("u1", "install")].revenue == 2.5
    assert by_user[("nobody", None)].status == "no_prediction"
    assert by_user[("waiting", "install")].status == "awaiting"
    assert {SHOWN_AS[name] for name in OTHER_COLUMNS} <= set(rows.columns)
    assert by_user[("u1", "early_events")].event_id == "u1-early_events-2"
    later = matched_rows(engine, DAY, DAY, DAY + timedelta(days=9), columns=["stage"])
    assert set(later.status) == {"matched", "no_prediction", "overdue"}
    assert {"inside", "uncertain"} <= set(later.columns) and "lower" not in later.columns


def test_a_corrected_outcome_is_matched_again(engine):
    PredictionStore(engine).save_many([prediction("u1", "install", 0, 1.0)])
    store = OutcomeStore(engine)
    store.write([{"user_id": "u1", "revenue": 1.0, "install_date": DAY}])
    store.write([{"user_id": "u1", "revenue": 7.0, "install_date": DAY + timedelta(days=1)}])
    rows = matched_rows(engine, DAY, DAY + timedelta(days=1), DAY)
    assert len(rows) == 1
    assert rows.iloc[0]["revenue"] == 7.0 and rows.iloc[0]["install_date"] == "2026-11-21"


def test_the_newest_is_by_event_time_whatever_the_order_predictions_were_made_in(engine):
    PredictionStore(engine).save_many(
        [
            prediction("u1", "early_events", 1, 3.0, event="newer-event", happened=3),
            prediction("u1", "early_events", 4, 2.0, event="older-event-later", happened=2),
            prediction("u1", "early_events", 5, 9.0, event="after-the-outcome", happened=11),
            prediction("u1", "install", 1, 1.0, event="resent", happened=1),
            prediction("u1", "install", 2, 1.5, event="resent", happened=2),  # another sent_at
        ]
    )
    OutcomeStore(engine).write(
        [{"user_id": "u1", "revenue": 2.5, "install_date": None}], now=START + timedelta(hours=10)
    )
    rows = matched_rows(engine, DAY, DAY, DAY).set_index("stage")
    assert len(rows) == 2  # one row per stage: the match names the event id and its event time
    assert rows.loc["early_events", "predicted_revenue"] == 3.0
    assert rows.loc["early_events", "event_id"] == "newer-event"
    assert rows.loc["install", "predicted_revenue"] == 1.5
    happened = pd.to_datetime(rows.loc["install", "event_time"], utc=True)  # SQLite: naive UTC
    assert happened == pd.Timestamp(START + timedelta(hours=2))
    assert set(rows.install_date) == {DAY.isoformat()}  # the matched event's UTC date


def test_a_prediction_without_outcome_is_placed_by_its_event_time(engine):
    PredictionStore(engine).save_many(
        [prediction("quiet", "install", 30, 1.0, happened=1)]  # made the next day
    )
    rows = matched_rows(engine, DAY, DAY, DAY)
    assert list(rows.user_id) == ["quiet"] and list(rows.status) == ["awaiting"]
    assert matched_rows(engine, DAY + timedelta(days=1), DAY + timedelta(days=1), DAY).empty


def test_a_prediction_before_the_install_date_is_not_the_installs(engine):
    PredictionStore(engine).save_many(
        [
            prediction("u1", "install", -40, 5.0, event="two-days-before"),
            prediction("u1", "early_events", -40, 6.0, event="two-days-before-too"),
            prediction("u1", "early_events", -20, 2.0, event="a-clock-behind"),  # within a day
        ]
    )
    OutcomeStore(engine).write([{"user_id": "u1", "revenue": 1.0, "install_date": DAY}])
    rows = matched_rows(engine, DAY, DAY, DAY).set_index("stage")
    assert list(rows.index) == ["early_events"] and list(rows.event_id) == ["a-clock-behind"]
