"""Newest wins: whatever the delivery order, the number of workers or the redeliveries, a user's
cached prediction and the table's newest row answer the event with the latest event time.
Run on fakeredis and SQLite (unit), on the real Redis and Postgres, and on the local Redis
Cluster with two partitions per stream kind (integration)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from adapters.cache import PredictionCache
from adapters.store import PredictionStore, make_engine
from adapters.stream import encode_install_event
from worker.wiring import build_worker

from support.fakes import FakePredictor
from support.streams import install, installs

NINE = datetime(2025, 5, 1, 9, tzinfo=UTC)
BACKENDS = [
    "unit",
    pytest.param("integration", marks=pytest.mark.integration),
    pytest.param("cluster", marks=pytest.mark.integration),
]


class Crash(BaseException):
    """Stands for a worker dying after reading a batch: its entries stay pending."""


@pytest.fixture(params=BACKENDS)
def backend(request):
    """(settings, Redis client) of the backend: fakeredis and SQLite, the real servers, or the
    local Redis Cluster (two partitions) with the real Postgres."""
    if request.param == "unit":
        settings = request.getfixturevalue("unit_settings")
        client = request.getfixturevalue("fake_redis")
    elif request.param == "cluster":
        settings = request.getfixturevalue("cluster_settings")
        client = request.getfixturevalue("redis_cluster_client")
    else:
        settings = request.getfixturevalue("service_settings")
        client = request.getfixturevalue("redis_client")
    return settings.model_copy(update={"claim_idle_ms": 0, "worker_block_ms": 10}), client


@pytest.fixture
def make_worker(backend):
    settings, client = backend
    engines = []

    def make(consumer: str, batch_size: int = 3):
        engine = make_engine(settings.database_url)
        engines.append(engine)
        changed = settings.model_copy(update={"worker_batch_size": batch_size})
        return build_worker(changed, FakePredictor(), client, engine, consumer=consumer)

    yield make
    for engine in engines:
        engine.dispose()


def send(backend, events) -> None:
    """XADD (event id, sent_at, record) events in the given order, each to its user's
    partition."""
    settings, client = backend
    installs(client, settings).append_many(
        (record["user_id"], encode_install_event(record, event_id=event_id, sent_at=sent_at))
        for event_id, sent_at, record in events
    )


def newest(backend, user_id: str) -> tuple[dict | None, dict | None]:
    """The user's cached prediction and newest row."""
    settings, client = backend
    cache = PredictionCache(client, settings.cache_prefix)
    engine = make_engine(settings.database_url)
    try:
        return cache.get(user_id), PredictionStore(engine).latest_for_user(user_id)
    finally:
        engine.dispose()


def test_the_issues_example_early_events_then_a_late_install_event(backend, make_worker):
    """Events sent at 10:00 (early-event counts) are delivered before the install-only event
    sent at 09:00: the answer stays the early-events prediction."""
    send(backend, [("x-early", NINE + timedelta(hours=1), install("X", event_1=1, event_2=2))])
    make_worker("w1").run(until_empty=True)
    send(backend, [("x-install", NINE, install("X"))])
    make_worker("w1").run(until_empty=True)
    cached, row = newest(backend, "X")
    assert cached["stage"] == "early_events" and cached["event_id"] == "x-early"
    assert cached["event_time"] == (NINE + timedelta(hours=1)).isoformat()
    assert cached["predicted_revenue"] == 21.0
    assert row["event_id"] == "x-early"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_delivery_order_two_workers_and_redeliveries_end_with_the_newest(
    backend, make_worker, seed
):
    shuffle = random.Random(seed)
    users = [f"user-{seed}-{i}" for i in range(8)]
    events = [  # event k of a user was sent k hours after 09:00 and predicts revenue k
        (f"{user}-{k}", NINE + timedelta(hours=k), install(user, event_1=k))
        for user in users
        for k in range(4)
    ]
    shuffle.shuffle(events)
    resent = shuffle.sample(events, 10)  # producers' resends: same id, same sent_at
    send(backend, events + resent)
    first, second, dying = make_worker("first"), make_worker("second"), make_worker("dying")

    def crash(_prepared):
        raise Crash

    dying.handler.commit = crash  # takes a batch and dies: another worker claims it
    with pytest.raises(Crash):
        dying.run(max_messages=3)
    for _ in range(30):  # the two workers take turns, three entries at a time
        taken = sum(
            worker.run(max_messages=3, until_empty=True).entries for worker in (first, second)
        )
        if not taken:
            break
    assert first.run(until_empty=True).entries == 0
    settings, client = backend
    engine = make_engine(settings.database_url)
    assert PredictionStore(engine).count() == len(events)
    engine.dispose()
    for user in users:
        cached, row = newest(backend, user)
        assert cached["event_id"] == row["event_id"] == f"{user}-3", user
        assert cached["predicted_revenue"] == 3.0
