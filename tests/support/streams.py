"""Install events for the worker tests and what the tests check of the worker: every event
exactly once in Postgres, every user's latest persisted prediction in the cache, nothing left
pending; and how they wait."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import sqlalchemy

from adapters.cache import PredictionCache
from adapters.stream import encode_install_event
from adapters.stream_partitions import PartitionedStream, StreamLayout
from scorer.synth import synthetic_records


def synthetic_installs(count: int, seed: int = 1) -> list[dict]:
    """Install records with unique user ids (`user-<seed>-<i>`), some with event counts."""
    frame = synthetic_records(count, seed=seed, with_revenue=False)
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    for i, record in enumerate(records):
        record["user_id"] = f"user-{seed}-{i}"
    return records


def numbered_installs(count: int, seed: int = 1) -> tuple[list[dict], list[str], list[str]]:
    """`synthetic_installs` with their event ids (`event-<seed>-<i>`) and their user ids."""
    records = synthetic_installs(count, seed)
    return records, [f"event-{seed}-{i}" for i in range(count)], [r["user_id"] for r in records]


def install(user_id: str | None, event_1=None, event_2=None, **extra) -> dict:
    """A small install record (US, iOS, Organic) with the given counts and extra fields."""
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


FIRST_SENT: dict[str, datetime] = {}
"""When each event id was first pushed: a producer resends an event with its first `sent_at`
(the event time, which with the event id makes the idempotency key)."""
_LATEST = [datetime.min.replace(tzinfo=UTC)]


def sent_at(event_id: str) -> datetime:
    """The `sent_at` of `event_id`: the time it was first pushed (or asked for), later than any
    earlier event id's, so events pushed later are newer; a resend carries the same time."""
    if event_id not in FIRST_SENT:
        _LATEST[0] = max(datetime.now(UTC), _LATEST[0] + timedelta(microseconds=1))
        FIRST_SENT[event_id] = _LATEST[0]
    return FIRST_SENT[event_id]


def installs(client, settings) -> PartitionedStream:
    """Every partition of the install-events stream of `settings`."""
    layout = StreamLayout.of(settings)
    return PartitionedStream(client, settings.installs_stream, layout, settings.stream_maxlen)


def push_installs(client, settings, records, event_ids=None) -> list[str]:
    """Append `records` to the install-events stream, each to its user's partition as producers
    do (optional idempotency keys); their entry ids. An event with an id carries
    `sent_at(event_id)`; one without carries none (its event time is then the entry's)."""
    event_ids = event_ids or [None] * len(records)
    return installs(client, settings).append_many(
        (
            record["user_id"],
            encode_install_event(record, event_id=event_id, sent_at=event_id and sent_at(event_id)),
        )
        for record, event_id in zip(records, event_ids, strict=True)
    )


def wait_for(condition, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def rows(database_url: str) -> list[dict]:
    engine = sqlalchemy.create_engine(database_url)
    try:
        with engine.connect() as connection:
            result = connection.execute(
                sqlalchemy.text(
                    "SELECT event_id, user_id, source, predicted_revenue FROM predictions"
                )
            )
            return [dict(row) for row in result.mappings()]
    finally:
        engine.dispose()


def row_count(database_url: str) -> int:
    return len(rows(database_url))


def pending(client, settings, stream: str | None = None) -> int:
    """Entries pending in the group: on `stream`'s partitions (default: the install events)."""
    base = stream or settings.installs_stream
    total = 0
    for name in StreamLayout.of(settings).names(base):
        if client.exists(name):
            total += client.xpending(name, settings.consumer_group)["pending"]
    return total


def acked(client, settings) -> int:
    """Entries of the install streams delivered to the group and acknowledged."""
    total = 0
    for stream in installs(client, settings).partitions:
        (info,) = client.xinfo_groups(stream.name)
        total += info["entries-read"] - info["pending"]
    return total


def assert_exactly_once_and_cached(client, settings, event_ids, users) -> None:
    """One row per expected event and no other row; each user cached with the value of their
    persisted row; nothing pending."""
    found = rows(settings.database_url)
    ids = [row["event_id"] for row in found]
    assert len(ids) == len(set(ids))
    missing, extra = set(event_ids) - set(ids), set(ids) - set(event_ids)
    assert not missing and not extra, (len(missing), len(extra))
    cache = PredictionCache(client, settings.cache_prefix, settings.cache_ttl_seconds)
    by_user = {row["user_id"]: row for row in found}
    uncached = [user for user in users if cache.get(user) is None]
    assert not uncached, f"{len(uncached)} users not cached, e.g. {uncached[:3]}"
    for user in users:
        assert cache.get(user)["predicted_revenue"] == by_user[user]["predicted_revenue"]
    assert pending(client, settings) == 0


def dead_letter_ids(client, settings) -> dict[str, list[str]]:
    """The original entry ids each dead-letter partition holds, by partition name."""
    return {
        name: [fields[b"dead_letter_id"].decode() for _, fields in client.xrange(name)]
        for name in StreamLayout.of(settings).names(settings.dead_letter_stream)
    }
