"""Every view of a prediction holds to the one declaration in `scorer.prediction`: the ORM table
(and the table the frozen migration made), the scored-stream payload, the cache value and the API
response models. Adding a field to `Prediction` without its view here fails these tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import orjson
import pytest
import sqlalchemy

from adapters.cache import CACHE_FIELDS, cache_value
from adapters.migrations import upgrade_database
from adapters.orm import predictions
from adapters.stream import SCORED_FIELDS, StreamDecodeError, decode_scored, encode_scored
from api import schemas
from api.scoring import answer
from scorer.prediction import (
    EVENT_TIME,
    FIELD_NAMES,
    FIELDS,
    KEY,
    View,
    make_prediction,
    view_fields,
    view_names,
)

PREDICTION = make_prediction(
    event_id="req-1:0",
    user_id="u1",
    source="api",
    stage="early_events",
    input={"country": "us", "event_2": 3.0},
    predicted_revenue=1.25,
    lower=0.1,
    upper=4.0,
    model_version="v1",
    created_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC),
    flags=["anomalous_country_rate", "unseen_os_version"],
    event_time=datetime(2025, 1, 2, 3, 4, 0, 250000, tzinfo=UTC),
)
ROW_FIELDS = view_fields(View.ROW)
SQL_TYPES = {
    str: sqlalchemy.Text,
    float: sqlalchemy.Double,
    dict: sqlalchemy.JSON,
    list: sqlalchemy.JSON,
    datetime: sqlalchemy.DateTime,
}


def test_make_prediction_takes_every_declared_field_by_keyword():
    assert tuple(PREDICTION) == FIELD_NAMES
    with pytest.raises(TypeError):
        make_prediction(**{name: None for name in FIELD_NAMES[1:]})
    with pytest.raises(TypeError):
        make_prediction(*PREDICTION.values())


def test_orm_table_is_the_row_view():
    assert [column.name for column in predictions.columns] == ["id", *view_names(View.ROW)]
    unique = [c for c in predictions.constraints if isinstance(c, sqlalchemy.UniqueConstraint)]
    assert [tuple(c.columns.keys()) for c in unique] == [(KEY, EVENT_TIME)]
    for info in ROW_FIELDS:
        column = predictions.c[info.name]
        assert isinstance(column.type, SQL_TYPES[info.type]), info.name
        assert column.nullable == info.nullable(View.ROW), info.name
        assert not column.unique, info.name
        assert (column.server_default is not None) == info.spec.defaults_to_now, info.name


def test_migrations_made_the_table_the_orm_declares(tmp_path):
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    upgrade_database(url)
    engine = sqlalchemy.create_engine(url)
    try:
        found = sqlalchemy.inspect(engine).get_columns("predictions")
    finally:
        engine.dispose()
    migrated = {column["name"]: column for column in found}
    assert list(migrated) == [column.name for column in predictions.columns]
    for info in ROW_FIELDS:
        column = migrated[info.name]
        assert column["nullable"] == info.nullable(View.ROW), info.name
        assert column["type"].python_type is predictions.c[info.name].type.python_type, info.name


def test_stream_payload_is_the_stream_view_and_round_trips():
    assert view_names(View.STREAM) == SCORED_FIELDS
    fields = encode_scored(PREDICTION)
    assert tuple(orjson.loads(fields["prediction"])) == SCORED_FIELDS
    assert decode_scored(fields) == {name: PREDICTION[name] for name in SCORED_FIELDS}


def test_stream_payload_bytes_are_unchanged():
    assert encode_scored(PREDICTION)["prediction"] == (
        b'{"event_id":"req-1:0","user_id":"u1","source":"api","stage":"early_events",'
        b'"input":{"country":"us","event_2":3.0},"predicted_revenue":1.25,"lower":0.1,'
        b'"upper":4.0,"model_version":"v1","created_at":"2025-01-02T03:04:05+00:00",'
        b'"flags":["anomalous_country_rate","unseen_os_version"],'
        b'"event_time":"2025-01-02T03:04:00.250000+00:00"}'
    )


def _payload(**change):
    body = json.loads(encode_scored(PREDICTION)["prediction"])
    body.update(change)
    return {"prediction": json.dumps(body).encode()}


@pytest.mark.parametrize(
    "info",
    [
        info
        for info in view_fields(View.STREAM)
        if not info.nullable(View.STREAM) and not info.spec.defaults_to
    ],
    ids=lambda info: info.name,
)
def test_stream_decoding_names_each_required_field_when_it_is_missing(info):
    with pytest.raises(StreamDecodeError, match=f"^{info.name}: "):
        decode_scored(_payload(**{info.name: None}))


def test_a_payload_without_an_event_time_takes_its_created_at():
    """Payloads published by an API from before event times: the request time stands in."""
    assert decode_scored(_payload(event_time=None))[EVENT_TIME] == PREDICTION["created_at"]
    without = {name: value for name, value in PREDICTION.items() if name != EVENT_TIME}
    assert decode_scored(encode_scored(without))[EVENT_TIME] == PREDICTION["created_at"]


@pytest.mark.parametrize(
    "info",
    [info for info in view_fields(View.STREAM) if info.spec.choices],
    ids=lambda info: info.name,
)
def test_stream_decoding_names_a_field_outside_its_choices(info):
    outside = ["elsewhere"] if info.type is list else "elsewhere"
    with pytest.raises(StreamDecodeError, match=f"^{info.name}: must be one of"):
        decode_scored(_payload(**{info.name: outside}))


def test_stream_decoding_names_a_list_field_that_is_not_a_list_of_strings():
    for bad in ("anomalous_country_rate", [1], {"a": 1}):
        with pytest.raises(StreamDecodeError, match="^flags: not a JSON array of strings"):
            decode_scored(_payload(flags=bad))


def test_cache_value_is_the_cache_view_and_its_bytes_are_unchanged():
    value = cache_value(PREDICTION)
    assert tuple(value) == CACHE_FIELDS == view_names(View.CACHE)
    for info in view_fields(View.CACHE):
        if info.type is not datetime:
            assert value[info.public(View.CACHE)] == PREDICTION[info.name], info.name
    assert orjson.dumps(value) == (
        b'{"user_id":"u1","predicted_revenue":1.25,"lower":0.1,"upper":4.0,'
        b'"stage":"early_events","model_version":"v1",'
        b'"flags":["anomalous_country_rate","unseen_os_version"],'
        b'"scored_at":"2025-01-02T03:04:05+00:00","source":"api","event_id":"req-1:0",'
        b'"event_time":"2025-01-02T03:04:00.250000+00:00"}'
    )
    assert cache_value(value) == value  # a value already in cached form stays as it is


@pytest.mark.parametrize(
    ("model", "view"), [(schemas.Prediction, View.ANSWER), (schemas.UserPrediction, View.CACHE)]
)
def test_api_response_models_are_the_views(model, view):
    assert tuple(model.model_fields) == view_names(view)
    for info in view_fields(view):
        field = model.model_fields[info.public(view)]
        assert field.description == info.spec.meaning
        assert field.is_required()
        accepts_null = type(None) in getattr(field.annotation, "__args__", ())
        assert accepts_null == info.nullable(view), info.name


def test_answers_and_cached_values_validate_against_the_response_models():
    built = answer(PREDICTION)
    assert tuple(built) == view_names(View.ANSWER)
    assert schemas.Prediction.model_validate(built).model_dump() == built
    cached = cache_value(PREDICTION)
    assert schemas.UserPrediction.model_validate(cached).model_dump() == cached
    batch = schemas.PredictionBatch(request_id="req-1", model_version="v1", predictions=[built])
    assert batch.predictions[0].model_dump() == built


def test_every_field_is_in_a_stored_view_and_public_ones_have_a_position():
    for info in FIELDS:
        assert View.ROW in info.spec.views and View.STREAM in info.spec.views, info.name
        public = info.spec.views & {View.CACHE, View.ANSWER, View.CSV}
        assert (info.spec.shown_at is not None) == bool(public), info.name
    positions = [info.spec.shown_at for info in FIELDS if info.spec.shown_at is not None]
    assert len(positions) == len(set(positions))
