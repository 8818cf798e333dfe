import json
import math
import time
from datetime import UTC, datetime

import pytest

from adapters.stream import (
    EventStream,
    StreamDecodeError,
    decode_install_event,
    decode_scored,
    encode_install_event,
    encode_scored,
    is_cluster,
    read_groups,
)
from adapters.stream_partitions import StreamLayout
from scorer.schema import RECORD_COLUMNS, InstallRecord

RECORD = {
    "user_id": "u1",
    "country": "US",
    "country_region": None,
    "source": "Organic",
    "platform": "iOS",
    "device_family": "iPhone 12",
    "os_version": "14.4",
    "event_1": 3.0,
    "event_2": 0.25,
    "event_3": None,
}


def scored(event_id="req-1:0", **extra):
    return {
        "event_id": event_id,
        "user_id": "u1",
        "source": "api",
        "stage": "early_events",
        "input": RECORD,
        "predicted_revenue": 1.25,
        "lower": 0.1,
        "upper": 4.0,
        "model_version": "v1",
        "created_at": "2025-01-02T03:04:05+00:00",
        "flags": [],
        **extra,
    }


def test_install_event_round_trips_through_install_record():
    fields = encode_install_event(RECORD, event_id="e1", sent_at="2025-01-01T00:00:00Z")
    assert all(isinstance(value, str) for value in fields.values())
    assert fields["event_1"] == "3" and fields["event_2"] == "0.25" and fields["event_3"] == ""
    raw = {key.encode(): value.encode() for key, value in fields.items()}
    event = decode_install_event(raw)
    assert event.event_id == "e1" and event.sent_at == "2025-01-01T00:00:00Z"
    assert set(event.record) == set(RECORD_COLUMNS)
    assert InstallRecord(**event.record).model_dump() == RECORD


def test_install_event_without_metadata_and_with_unknown_field_is_left_to_validation():
    event = decode_install_event({b"country": b"FR", b"bogus": b"1"})
    assert event.event_id is None and event.sent_at is None
    with pytest.raises(ValueError):
        InstallRecord(**event.record)


def test_non_utf8_or_deleted_entries_raise_decode_errors():
    with pytest.raises(StreamDecodeError):
        decode_install_event({b"country": b"\xff\xfe"})
    with pytest.raises(StreamDecodeError):
        decode_install_event(None)


def test_scored_entry_round_trips_to_a_row():
    fields = encode_scored(scored())
    assert list(fields) == ["prediction"]
    row = decode_scored({b"prediction": fields["prediction"]})  # as Redis returns it
    assert row["input"] == RECORD
    assert row["predicted_revenue"] == 1.25 and row["user_id"] == "u1"
    assert row["created_at"].isoformat() == "2025-01-02T03:04:05+00:00"


def test_scored_entry_with_empty_user_id_has_none():
    assert decode_scored(encode_scored(scored(user_id=None)))["user_id"] is None


def test_scored_entry_timestamps_default_to_now_and_naive_ones_are_utc():
    before = datetime.now(UTC)
    row = decode_scored(encode_scored(scored(created_at=None)))
    assert before <= row["created_at"] <= datetime.now(UTC)
    naive = datetime(2025, 1, 2, 3, 4, 5)
    row = decode_scored(encode_scored(scored(created_at=naive)))
    assert row["created_at"] == naive.replace(tzinfo=UTC)


def _with(change):
    body = json.loads(encode_scored(scored())["prediction"])
    body.update(change)
    return {"prediction": json.dumps(body).encode()}


@pytest.mark.parametrize(
    "fields",
    [
        _with({"event_id": ""}),
        _with({"model_version": None}),
        _with({"predicted_revenue": "abc"}),
        _with({"predicted_revenue": True}),
        _with({"lower": None}),
        _with({"input": "not a dict"}),
        _with({"input": [1, 2]}),
        _with({"created_at": "yesterday"}),
        _with({"source": "elsewhere"}),
        {"prediction": b"not json"},
        {"prediction": b"[1, 2]"},
        {"other": b"{}"},
        None,
    ],
)
def test_malformed_scored_entries_raise(fields):
    with pytest.raises(StreamDecodeError):
        decode_scored(fields)


@pytest.mark.parametrize(
    "change", [{"lower": math.nan}, {"upper": math.inf}, {"predicted_revenue": None}]
)
def test_scored_encoding_rejects_what_is_not_a_finite_number(change):
    with pytest.raises(ValueError):
        encode_scored(scored(**change))


def test_scored_encoding_rejects_values_json_cannot_hold():
    with pytest.raises(ValueError):
        encode_scored(scored(input={"event_1": object()}))


def test_encoding_rejects_non_finite_numbers():
    with pytest.raises(ValueError):
        encode_install_event({**RECORD, "event_1": math.inf})


def test_group_read_ack_and_pending(client):
    stream = EventStream(client, "s", maxlen=1000)
    assert stream.ensure_group("g") is True
    assert stream.ensure_group("g") is False
    ids = stream.append_many([{"n": str(i)} for i in range(5)])
    assert len(ids) == 5 and stream.length() == 5
    entries = stream.read_group("g", "c1", count=3, block_ms=10)
    assert [entry_id for entry_id, _ in entries] == ids[:3]
    assert entries[0][1] == {b"n": b"0"}
    assert stream.ack("g", ids[:2]) == 2
    assert stream.pending_count("g") == 1
    assert [entry_id for entry_id, _ in stream.read_group("g", "c1", 10, pending=True)] == [ids[2]]
    assert stream.read_group("g", "c2", count=10, block_ms=10)[-1][0] == ids[4]
    assert stream.read_group("g", "c2", count=10, block_ms=10) == []


def test_append_trims_to_about_maxlen(client):
    stream = EventStream(client, "s", maxlen=100)
    for _ in range(10):
        stream.append_many([{"n": "1"}] * 100)
    stream.append({"n": "2"})
    assert 100 <= stream.length() < 1000


def test_autoclaim_moves_idle_entries_and_counts_deliveries(client):
    stream = EventStream(client, "s")
    stream.ensure_group("g")
    ids = stream.append_many([{"n": "1"}, {"n": "2"}])
    stream.read_group("g", "dead", count=10)
    cursor, claimed, deleted = stream.autoclaim("g", "alive", min_idle_ms=0, count=10)
    assert cursor == "0-0" and deleted == []
    assert [entry_id for entry_id, _ in claimed] == ids
    assert stream.delivery_counts("g", ids) == {ids[0]: 2, ids[1]: 2}
    assert stream.read_group("g", "dead", 10, pending=True) == []


def test_dead_letter_keeps_fields_adds_error_and_acks(client):
    layout = StreamLayout(hash_tags=is_cluster(client))  # on a cluster: one slot, one MULTI
    stream = EventStream(client, layout.name("s", 0))
    dead = EventStream(client, layout.name("s:dead", 0))
    stream.ensure_group("g")
    bad, good = stream.append_many([{"country": "x"}, {"country": "y"}])
    entries = dict(stream.read_group("g", "c", count=10))
    letter_ids = stream.dead_letter("g", [(bad, entries[bad], "boom", 5)], to=dead)
    assert len(letter_ids) == 1
    ((_, letter),) = client.xrange(dead.name)
    assert letter[b"country"] == b"x"
    assert letter[b"dead_letter_id"] == bad.encode()
    assert letter[b"dead_letter_error"] == b"boom"
    assert letter[b"dead_letter_deliveries"] == b"5"
    assert stream.delivery_counts("g", [bad, good]) == {good: 1}


def test_trim_consumed_keeps_everything_still_pending_or_unread(redis_client):
    stream = EventStream(redis_client, "s", maxlen=None)
    stream.ensure_group("g")
    ids = []
    for _ in range(5):
        ids += stream.append_many([{"n": "1"}] * 200)
    entries = stream.read_group("g", "c", count=600)
    stream.ack("g", [entry_id for entry_id, _ in entries[:500]])
    stream.trim_consumed()
    remaining = [entry_id.decode() for entry_id, _ in redis_client.xrange("s")]
    assert set(ids[500:]) <= set(remaining)
    assert len(remaining) < 1000


def test_read_group_returns_trimmed_pending_entries_without_fields(redis_client):
    stream = EventStream(redis_client, "s", maxlen=None)
    stream.ensure_group("g")
    first, _ = stream.append_many([{"n": "1"}, {"n": "2"}])
    stream.read_group("g", "c", count=10)
    redis_client.xdel("s", first)
    pending = stream.read_group("g", "c", count=10, pending=True)
    assert pending[0] == (first, None)


def test_reads_work_the_same_over_resp3(redis_url, redis_client):
    import redis

    resp3 = redis.Redis.from_url(redis_url, protocol=3)
    first, second = EventStream(resp3, "a"), EventStream(resp3, "b")
    for stream in (first, second):
        stream.ensure_group("g")
    first.append({"n": "1"})
    second.append_many([{"n": "2"}, {"n": "3"}])
    found = read_groups([first, second], "g", "c", count=10, block_ms=10)
    assert {name: len(entries) for name, entries in found.items()} == {"a": 1, "b": 2}
    assert found["b"][1][1] == {b"n": b"3"}
    assert first.read_group("g", "c", 10, pending=True)[0][1] == {b"n": b"1"}
    resp3.close()


def test_prune_consumers_removes_only_idle_ones_without_pending(client):
    stream = EventStream(client, "s")
    stream.ensure_group("g")
    stream.append_many([{"n": "1"}, {"n": "2"}, {"n": "3"}])
    stream.read_group("g", "busy", count=1)
    for consumer in ("idle", "me"):
        stream.ack("g", [entry_id for entry_id, _ in stream.read_group("g", consumer, count=1)])
    time.sleep(0.01)
    assert stream.prune_consumers("g", max_idle_ms=1, keep="me") == ["idle"]
    names = {info["name"] for info in client.xinfo_consumers("s", "g")}
    assert {b"busy", b"me"} <= names and b"idle" not in names
