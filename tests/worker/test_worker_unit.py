"""The worker loop and batch handler against fakeredis and SQLite, with a fake predictor."""

import signal

import pytest
import sqlalchemy
from tenacity import wait_fixed

from adapters.cache import PredictionCache
from adapters.store import PredictionStore
from adapters.stream import EventStream, encode_scored

from support.streams import install, push_installs


@pytest.fixture
def store(unit_settings):
    store = PredictionStore(sqlalchemy.create_engine(unit_settings.database_url))
    yield store
    store.engine.dispose()


@pytest.fixture
def cache(fake_redis, unit_settings):
    return PredictionCache(fake_redis, unit_settings.cache_prefix, unit_settings.cache_ttl_seconds)


def database_refused() -> sqlalchemy.exc.OperationalError:
    """The error an INSERT raises while Postgres refuses connections."""
    return sqlalchemy.exc.OperationalError("INSERT", {}, ConnectionError("refused"))


def sigterm_while_preparing(worker) -> None:
    """Deliver SIGTERM to `worker` each time it starts preparing a batch it has read."""
    prepare = worker.handler.prepare

    def prepare_then_signal(batch):
        worker._on_signal(signal.SIGTERM, None)
        return prepare(batch)

    worker.handler.prepare = prepare_then_signal


def pending(client, settings, stream=None):
    stream = stream or settings.installs_stream
    return client.xpending(stream, settings.consumer_group)["pending"]


def test_events_are_scored_per_batch_persisted_cached_and_acked(
    make_unit_worker, fake_redis, unit_settings, fake_predictor, store, cache
):
    records = [install(f"u{i}", event_1=i, event_2=1 if i % 2 else None) for i in range(120)]
    push_installs(fake_redis, unit_settings, records)
    outcome = make_unit_worker().run(until_empty=True)
    assert outcome.entries == outcome.inserted == outcome.acked == 120
    assert fake_predictor.batch_sizes == [50, 50, 20]
    assert fake_predictor.validated == [True, True, True]
    assert store.count(source="stream") == 120
    assert pending(fake_redis, unit_settings) == 0
    cached = cache.get("u7")
    assert cached["predicted_revenue"] == 17.0 and cached["stage"] == "early_events"
    assert cached["source"] == "stream" and cached["model_version"] == "fake-1"
    assert cache.get("u8")["stage"] == "install"
    row = store.latest_for_user("u7")
    assert row["input"]["event_1"] == 7.0 and row["input"]["country"] == "US"
    assert row["event_id"].startswith(f"{unit_settings.installs_stream}:")


def test_commit_caches_and_acks_in_one_round_trip_after_the_transaction(
    make_unit_worker, fake_redis, unit_settings, cache
):
    push_installs(fake_redis, unit_settings, [install(f"u{i}", event_1=i) for i in range(5)])
    worker = make_unit_worker()
    worker._setup()
    prepared = worker.handler.prepare(worker._read_new())
    sent = []
    real_pipeline = fake_redis.pipeline

    def recording_pipeline(*args, **kwargs):
        pipe = real_pipeline(*args, **kwargs)
        real_execute = pipe.execute

        def execute(*a, **k):
            sent.append([command[0][0] for command in pipe.command_stack])
            return real_execute(*a, **k)

        pipe.execute = execute
        return pipe

    fake_redis.pipeline = recording_pipeline
    outcome = worker.handler.commit(prepared)
    assert outcome.cached == outcome.acked == 5
    assert sent == [["EVAL", "XACK"]]  # one compare-and-set call for the five users
    assert cache.get("u4")["predicted_revenue"] == 4.0


def test_scored_entries_are_persisted_as_they_are_without_scoring(
    make_unit_worker, fake_redis, unit_settings, fake_predictor, store, cache
):
    scored = EventStream(fake_redis, unit_settings.scored_stream)
    prediction = {
        "event_id": "req-1:0",
        "user_id": "api-user",
        "source": "api",
        "stage": "install",
        "input": install("api-user"),
        "predicted_revenue": 3.5,
        "lower": 1.0,
        "upper": 9.0,
        "model_version": "model-7",
        "created_at": "2025-03-01T10:00:00+00:00",
        "flags": ["unseen_country"],
    }
    scored.append_many(
        [encode_scored(prediction), encode_scored({**prediction, "event_id": "x", "user_id": None})]
    )
    make_unit_worker().run(until_empty=True)
    assert fake_predictor.batch_sizes == []
    assert store.count(source="api") == 2
    assert cache.get("api-user") == {
        "user_id": "api-user",
        "predicted_revenue": 3.5,
        "lower": 1.0,
        "upper": 9.0,
        "stage": "install",
        "model_version": "model-7",
        "flags": ["unseen_country"],
        "scored_at": "2025-03-01T10:00:00+00:00",
        "source": "api",
        "event_id": "req-1:0",
        "event_time": "2025-03-01T10:00:00+00:00",  # a payload without one: its created_at
    }
    assert pending(fake_redis, unit_settings, unit_settings.scored_stream) == 0


def test_poison_entries_go_to_the_dead_letter_stream_and_do_not_block_the_batch(
    make_unit_worker, fake_redis, unit_settings, store, cache
):
    good = [install(f"u{i}", event_1=i) for i in range(10)]
    ids = push_installs(fake_redis, unit_settings, good[:5])
    bad_id = fake_redis.xadd(unit_settings.installs_stream, {"country": "US", "event_1": "abc"})
    extra_id = fake_redis.xadd(unit_settings.installs_stream, {"unknown_field": "1"})
    ids += push_installs(fake_redis, unit_settings, good[5:])
    outcome = make_unit_worker().run(until_empty=True)
    assert store.count() == 10
    assert all(cache.get(f"u{i}") for i in range(10))
    assert outcome.dead_lettered == 2
    assert pending(fake_redis, unit_settings) == 0
    letters = {
        fields[b"dead_letter_id"]: fields
        for _, fields in fake_redis.xrange(unit_settings.dead_letter_stream)
    }
    assert set(letters) == {bad_id, extra_id}
    assert letters[bad_id][b"event_1"] == b"abc"
    assert b"event_1: Value error, must be a number" in letters[bad_id][b"dead_letter_error"]
    assert b"unknown_field" in letters[extra_id][b"dead_letter_error"]
    assert letters[bad_id][b"dead_letter_deliveries"] == str(unit_settings.max_deliveries).encode()


def test_failed_entry_waits_for_redelivery_until_max_deliveries(
    make_unit_worker, fake_redis, unit_settings
):
    fake_redis.xadd(unit_settings.installs_stream, {"event_1": "-1"})
    worker = make_unit_worker(claim_idle_ms=60000)
    outcome = worker.run(until_empty=True)
    assert outcome.retrying == 1 and outcome.dead_lettered == 0
    assert pending(fake_redis, unit_settings) == 1
    assert fake_redis.xlen(unit_settings.dead_letter_stream) == 0


def test_duplicated_event_id_makes_one_row(make_unit_worker, fake_redis, unit_settings, store):
    records = [install("u1", event_1=1), install("u1", event_1=1), install("u2", event_1=2)]
    push_installs(fake_redis, unit_settings, records, event_ids=["e1", "e1", "e2"])
    make_unit_worker().run(until_empty=True)
    push_installs(fake_redis, unit_settings, [install("u1", event_1=1)], event_ids=["e1"])
    make_unit_worker().run(until_empty=True)
    assert store.count() == 2
    assert store.count(event_id="e1") == 1
    assert pending(fake_redis, unit_settings) == 0


def test_late_duplicate_does_not_replace_a_newer_cached_prediction(
    make_unit_worker, fake_redis, unit_settings, cache
):
    push_installs(fake_redis, unit_settings, [install("u1", event_1=1)], event_ids=["old"])
    make_unit_worker().run(until_empty=True)
    push_installs(fake_redis, unit_settings, [install("u1", event_1=5)], event_ids=["new"])
    make_unit_worker().run(until_empty=True)
    push_installs(fake_redis, unit_settings, [install("u1", event_1=1)], event_ids=["old"])
    make_unit_worker().run(until_empty=True)
    assert cache.get("u1")["predicted_revenue"] == 5.0


def test_max_messages_bounds_a_run(make_unit_worker, fake_redis, unit_settings, store):
    push_installs(fake_redis, unit_settings, [install(f"u{i}") for i in range(120)])
    outcome = make_unit_worker(worker_batch_size=20).run(max_messages=40)
    assert outcome.entries == 40 and store.count() == 40


class Crash(BaseException):
    """Stands for the process dying: nothing after it runs."""


def test_killed_after_commit_before_xack_is_completed_by_another_worker(
    make_unit_worker, fake_redis, unit_settings, store, cache
):
    push_installs(fake_redis, unit_settings, [install(f"u{i}", event_1=i) for i in range(30)])
    dying = make_unit_worker("dying")
    original = dying.handler.store.insert_new

    def commit_then_die(rows, connection=None):
        original(rows, connection)
        raise Crash

    dying.handler.store.insert_new = commit_then_die
    with pytest.raises(Crash):
        dying.run(until_empty=True)
    assert store.count() == 30
    assert cache.get("u3") is None
    assert pending(fake_redis, unit_settings) == 30

    outcome = make_unit_worker("survivor").run(until_empty=True)
    assert outcome.inserted == 0 and outcome.acked == 30
    assert store.count() == 30
    assert all(cache.get(f"u{i}")["predicted_revenue"] == float(i) for i in range(30))
    assert pending(fake_redis, unit_settings) == 0


def test_restarted_consumer_rereads_its_own_pending_entries_first(
    make_unit_worker, fake_redis, unit_settings, store
):
    push_installs(fake_redis, unit_settings, [install(f"u{i}") for i in range(10)])
    stream = EventStream(fake_redis, unit_settings.installs_stream)
    stream.ensure_group(unit_settings.consumer_group)
    earlier = stream.read_group(unit_settings.consumer_group, "same-name", count=4)
    worker = make_unit_worker("same-name", claim_idle_ms=60000, worker_batch_size=4)
    assert worker.run(max_messages=4).entries == 4
    assert pending(fake_redis, unit_settings) == 0
    assert store.count() == 4
    rows = {row["event_id"] for row in store.latest_for_users(f"u{i}" for i in range(10))}
    assert rows == {f"{unit_settings.installs_stream}:{entry_id}" for entry_id, _ in earlier}


def test_trimmed_pending_entries_are_acknowledged(make_unit_worker, fake_redis, unit_settings):
    ids = push_installs(fake_redis, unit_settings, [install("u1"), install("u2")])
    fake_redis.xgroup_create(unit_settings.installs_stream, unit_settings.consumer_group, "0")
    fake_redis.xreadgroup(
        unit_settings.consumer_group, "w1", {unit_settings.installs_stream: ">"}, count=10
    )
    fake_redis.xdel(unit_settings.installs_stream, ids[0])
    make_unit_worker("w1", claim_idle_ms=60000).run(until_empty=True)
    assert pending(fake_redis, unit_settings) == 0


def test_entry_that_breaks_the_database_fails_alone(
    make_unit_worker, fake_redis, unit_settings, store
):
    push_installs(
        fake_redis,
        unit_settings,
        [install(f"u{i}") for i in range(5)],
        event_ids=["a", "b", "poison", "c", "d"],
    )
    worker = make_unit_worker(max_deliveries=1)
    original = worker.handler.store.insert_new

    def refuse_poison(rows, connection=None):
        if any(row["event_id"] == "poison" for row in rows):
            raise sqlalchemy.exc.IntegrityError("INSERT", {}, ValueError("bad row"))
        return original(rows, connection)

    worker.handler.store.insert_new = refuse_poison
    outcome = worker.run(until_empty=True)
    assert store.count() == 4 and outcome.dead_lettered == 1
    ((_, letter),) = fake_redis.xrange(unit_settings.dead_letter_stream)
    assert letter[b"event_id"] == b"poison" and b"IntegrityError" in letter[b"dead_letter_error"]


@pytest.mark.parametrize("claim_idle_ms", [0, 60000])
def test_database_outage_is_retried_with_backoff_and_nothing_is_acked_meanwhile(
    make_unit_worker, fake_redis, unit_settings, store, claim_idle_ms
):
    push_installs(fake_redis, unit_settings, [install(f"u{i}") for i in range(10)])
    worker = make_unit_worker(claim_idle_ms=claim_idle_ms)
    worker.outage_wait = wait_fixed(0.001)
    original = worker.handler.store.insert_new
    pending_during_outage = []

    def flaky(rows, connection=None):
        if len(pending_during_outage) < 3:
            pending_during_outage.append(pending(fake_redis, unit_settings))
            raise database_refused()
        return original(rows, connection)

    worker.handler.store.insert_new = flaky
    outcome = worker.run(until_empty=True)
    assert pending_during_outage == [10, 10, 10]
    assert store.count() == 10 and outcome.acked == 10
    assert pending(fake_redis, unit_settings) == 0


def test_first_signal_finishes_the_batch_second_stops_hard(
    make_unit_worker, fake_redis, unit_settings, store
):
    push_installs(fake_redis, unit_settings, [install(f"u{i}") for i in range(100)])
    worker = make_unit_worker(worker_batch_size=10)
    sigterm_while_preparing(worker)
    outcome = worker.run(until_empty=True)
    assert outcome.entries == 10 and outcome.acked == 10
    assert store.count() == 10
    with pytest.raises(SystemExit):
        worker._on_signal(signal.SIGTERM, None)


def test_stopping_while_the_last_commit_fails_leaves_its_entries_pending(
    make_unit_worker, fake_redis, unit_settings, store
):
    push_installs(fake_redis, unit_settings, [install(f"u{i}") for i in range(10)])
    worker = make_unit_worker(claim_idle_ms=60000)
    sigterm_while_preparing(worker)

    def database_down(rows, connection=None):
        raise database_refused()

    worker.handler.store.insert_new = database_down
    outcome = worker.run()
    assert outcome.acked == 0 and store.count() == 0
    assert pending(fake_redis, unit_settings) == 10
