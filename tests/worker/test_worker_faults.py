"""Fault tests of the stream worker against the real Redis and Postgres and the real model.

Each ends by checking that every event has exactly one row, every user is cached with their
persisted prediction and nothing is left pending. Outages are made with a TCP proxy in front of
the server (the servers themselves are shared with other test runs and are never stopped).
"""

import signal
import subprocess
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy

from adapters import partitions
from adapters.cache import PredictionCache
from adapters.store import make_engine
from adapters.stream_partitions import StreamLayout
from worker.faults import KILL_AFTER_COMMITS_ENV
from worker.wiring import build_worker

from support.processes import log_text
from support.streams import (
    acked,
    assert_exactly_once_and_cached,
    installs,
    numbered_installs,
    pending,
    push_installs,
    row_count,
    rows,
    sent_at,
    wait_for,
)
from support.tcp_proxy import TcpProxy


def small_batches(settings):
    """Many small batches: a kill lands mid-stream, and often mid-batch."""
    return settings.model_copy(update={"worker_batch_size": 20})


def finish(spawn, settings, consumer="finisher"):
    """Run a worker until nothing is left, as a restarted process would."""
    process = spawn(settings, "run", "--until-empty", "--consumer", consumer)
    assert process.wait(timeout=90) == 0, log_text(process)


def test_sigkill_mid_stream_then_restart(backend, spawn):
    redis_client, service_settings = backend
    records, ids, users = numbered_installs(1500)
    push_installs(redis_client, service_settings, records, ids)
    worker = spawn(small_batches(service_settings), "run", "--consumer", "w1")
    wait_for(lambda: row_count(service_settings.database_url) >= 200, 60, "200 rows")
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    assert row_count(service_settings.database_url) < len(ids), "killed too late to test"
    finish(spawn, service_settings, consumer="w1")  # same name: re-reads its own pending first
    assert_exactly_once_and_cached(redis_client, service_settings, ids, users)


def test_killed_after_commit_before_xack(backend, spawn):
    """A real SIGKILL of a real worker process between its third database commit and that
    batch's cache writes and XACK (fault injection enabled only through the environment)."""
    redis_client, service_settings = backend
    records, ids, users = numbered_installs(300, seed=2)
    push_installs(redis_client, service_settings, records, ids)
    settings = small_batches(service_settings)  # 20 per batch and partition: commit 3 holds
    per_batch = 20 * settings.stream_partitions  # entries 41-60 of each partition
    dying = spawn(settings, "run", "--consumer", "dying", env={KILL_AFTER_COMMITS_ENV: "3"})
    assert dying.wait(timeout=60) == -signal.SIGKILL, log_text(dying)
    assert "SIGKILL right after database commit 3" in log_text(dying)
    assert row_count(settings.database_url) == 3 * per_batch  # three batches committed...
    assert acked(redis_client, settings) == 2 * per_batch  # ...the third never acknowledged
    assert pending(redis_client, settings) >= per_batch
    cache = PredictionCache(redis_client, settings.cache_prefix, settings.cache_ttl_seconds)
    persisted = {row["user_id"] for row in rows(settings.database_url)}
    cached = {user for user in persisted if cache.get(user) is not None}
    assert len(cached) == 2 * per_batch and len(persisted - cached) == per_batch
    if settings.stream_partitions == 1:  # one stream: the batches are the first entries
        assert cache.get(users[39]) is not None
        assert [user for user in users[40:60] if cache.get(user) is not None] == []
    finish(spawn, settings, consumer="dying")  # restarted: re-reads its own pending first
    assert_exactly_once_and_cached(redis_client, settings, ids, users)


OUTAGES = {  # server: (its port, the setting that points at it, seconds it stays down, seed)
    "postgres": (5432, "database_url", 4, 3),
    "redis": (6379, "redis_url", 3, 4),
}


@pytest.mark.parametrize("server", sorted(OUTAGES))
def test_a_server_gone_for_seconds(redis_client, service_settings, spawn, server):
    """The worker reaches `server` through a proxy that refuses connections for a while; it
    keeps going and every event ends up persisted once and cached."""
    port, setting, seconds, seed = OUTAGES[server]
    proxy = TcpProxy(port)
    proxy.up()
    through_proxy = getattr(service_settings, setting).replace(f":{port}/", f":{proxy.port}/")
    settings = service_settings.model_copy(update={setting: through_proxy})
    database_url = service_settings.database_url  # read directly, never through the proxy
    records, ids, users = numbered_installs(900, seed=seed)
    worker = spawn(settings, "run", "--consumer", "w1")
    try:
        push_installs(redis_client, settings, records[:300], ids[:300])
        wait_for(lambda: row_count(database_url) > 0, 60, "first rows")
        proxy.down()
        push_installs(redis_client, settings, records[300:600], ids[300:600])
        time.sleep(seconds)
        assert acked(redis_client, settings) <= row_count(database_url)
        assert worker.poll() is None, "the worker gave up"
        proxy.up()
        push_installs(redis_client, settings, records[600:], ids[600:])
        wait_for(lambda: row_count(database_url) == 900, 60, "all rows")
        wait_for(lambda: pending(redis_client, settings) == 0, 30, "all acked")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        proxy.down()
    assert_exactly_once_and_cached(redis_client, service_settings, ids, users)


def test_poison_entries_are_dead_lettered_and_the_rest_persisted(backend, predictor):
    redis_client, service_settings = backend
    records, ids, users = numbered_installs(50, seed=5)
    settings = service_settings.model_copy(update={"claim_idle_ms": 0, "max_deliveries": 2})
    push_installs(redis_client, settings, records[:25], ids[:25])
    poisoned = installs(redis_client, settings).for_user("nul-user").name  # one stream: unique ids
    unparseable = redis_client.xadd(poisoned, {"country": "es", "event_1": "x"})
    nul = dict(records[0], user_id="nul-user", country="e\x00s")
    (rejected_by_postgres,) = push_installs(redis_client, settings, [nul], ["nul-event"])
    push_installs(redis_client, settings, records[25:], ids[25:])
    engine = make_engine(settings.database_url)
    outcome = build_worker(settings, predictor, redis_client, engine).run(until_empty=True)
    engine.dispose()
    assert outcome.dead_lettered == 2
    letters = {
        fields[b"dead_letter_id"].decode(): fields
        for name in StreamLayout.of(settings).names(settings.dead_letter_stream)
        for _, fields in redis_client.xrange(name)
    }
    assert set(letters) == {unparseable.decode(), rejected_by_postgres}
    assert b"event_1" in letters[unparseable.decode()][b"dead_letter_error"]
    assert letters[rejected_by_postgres][b"event_id"] == b"nul-event"
    assert_exactly_once_and_cached(redis_client, settings, ids, users)


def test_duplicated_event_ids_make_one_row_each(backend, predictor):
    redis_client, service_settings = backend
    records, ids, users = numbered_installs(300, seed=6)
    push_installs(redis_client, service_settings, records, ids)
    push_installs(
        redis_client, service_settings, records[::2], ids[::2]
    )  # sent again, later batches
    push_installs(redis_client, service_settings, records[:50], ids[:50])
    engine = make_engine(service_settings.database_url)
    worker = build_worker(service_settings, predictor, redis_client, engine)
    outcome = worker.run(until_empty=True)
    engine.dispose()
    assert outcome.entries == 500 and outcome.inserted == 300
    assert_exactly_once_and_cached(redis_client, service_settings, ids, users)


def test_two_workers_share_the_group_and_one_dies(backend, spawn):
    redis_client, service_settings = backend
    records, ids, users = numbered_installs(2000, seed=7)
    first = spawn(small_batches(service_settings), "run", "--consumer", "first")
    second = spawn(small_batches(service_settings), "run", "--consumer", "second")
    wait_for(
        lambda: consumers(redis_client, service_settings) >= {"first", "second"},
        60,
        "both workers reading",
    )
    push_installs(redis_client, service_settings, records, ids)
    wait_for(lambda: row_count(service_settings.database_url) >= 300, 60, "300 rows")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert row_count(service_settings.database_url) < len(ids), "killed too late to test"
    wait_for(lambda: row_count(service_settings.database_url) == len(ids), 90, "all rows")
    wait_for(lambda: pending(redis_client, service_settings) == 0, 30, "the dead one's entries")
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=30) == 0
    assert_exactly_once_and_cached(redis_client, service_settings, ids, users)


def consumers(client, settings) -> set[str]:
    """Consumers of the group on the first install-events partition (every worker reads it)."""
    first = StreamLayout.of(settings).name(settings.installs_stream, 0)
    if not client.exists(first):
        return set()
    return {
        info["name"].decode() for info in client.xinfo_consumers(first, settings.consumer_group)
    }


def test_sigterm_finishes_and_acks_the_current_batch(
    redis_client, service_settings, spawn, predictor
):
    records, ids, users = numbered_installs(1500, seed=8)
    push_installs(redis_client, service_settings, records, ids)
    worker = spawn(small_batches(service_settings), "run", "--consumer", "w1")
    wait_for(lambda: row_count(service_settings.database_url) >= 200, 60, "200 rows")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    assert "stopped" in log_text(worker)
    assert pending(redis_client, service_settings) == 0
    persisted = row_count(service_settings.database_url)
    assert persisted == acked(redis_client, service_settings) < len(ids)
    engine = make_engine(service_settings.database_url)
    build_worker(service_settings, predictor, redis_client, engine).run(until_empty=True)
    engine.dispose()
    assert_exactly_once_and_cached(redis_client, service_settings, ids, users)


@contextmanager
def row_held(database_url, event_id):
    """An uncommitted row with `event_id`: a worker inserting that event waits for this
    transaction to end (ON CONFLICT must know whether it commits), as it would behind any long
    transaction or lock. Yields a check: is some session waiting on it?"""
    engine = sqlalchemy.create_engine(database_url)
    holder = engine.connect()
    transaction = holder.begin()
    holder.execute(
        sqlalchemy.text(
            "INSERT INTO predictions (event_id, source, stage, input, predicted_revenue, lower,"
            " upper, model_version, event_time)"
            " VALUES (:event_id, 'api', 'install', '{}', 0, 0, 0, 'held', :event_time)"
        ),
        {"event_id": event_id, "event_time": sent_at(event_id)},
    )
    backend = holder.execute(sqlalchemy.text("SELECT pg_backend_pid()")).scalar_one()
    waiting = sqlalchemy.text(
        "SELECT count(*) FROM pg_stat_activity WHERE :backend = ANY(pg_blocking_pids(pid))"
    )

    def someone_waits() -> bool:
        # asked on another connection: the holder's view is frozen for its transaction
        with engine.connect() as connection:
            return connection.execute(waiting, {"backend": backend}).scalar_one() > 0

    try:
        yield someone_waits
    finally:
        transaction.rollback()
        holder.close()
        engine.dispose()


@contextmanager
def sigterm_while_waiting_on_a_lock(redis_client, spawn, service_settings, seed, timeout_ms):
    """Push 200 events, hold the row of one of them in another transaction and start a worker
    (20 per batch, statement timeout `timeout_ms`); once its INSERT waits on that row, send it
    one SIGTERM and yield `(settings, worker, ids, users)`. The row is released on exit."""
    records, ids, users = numbered_installs(200, seed=seed)
    settings = small_batches(service_settings).model_copy(
        update={"worker_statement_timeout_ms": timeout_ms}
    )
    push_installs(redis_client, settings, records, ids)
    with row_held(settings.database_url, ids[5]) as someone_waits:
        worker = spawn(settings, "run", "--consumer", "w1")
        wait_for(someone_waits, 60, "the worker's INSERT waiting on the lock")
        worker.send_signal(signal.SIGTERM)
        yield settings, worker, ids, users


def test_sigterm_stops_a_worker_whose_commit_waits_on_a_lock(redis_client, service_settings, spawn):
    """The commit thread waits in its INSERT while the main thread has read the next batch and
    waits for it: the first SIGTERM must still stop the worker (the statement times out, the
    batch stays pending), not leave it waiting as long as the other transaction lasts."""
    with sigterm_while_waiting_on_a_lock(
        redis_client, spawn, service_settings, seed=10, timeout_ms=1000
    ) as (settings, worker, ids, users):
        try:
            assert worker.wait(timeout=15) == 0, log_text(worker)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 15 s after SIGTERM:\n{log_text(worker)[-2000:]}")
        assert "statement timeout" in log_text(worker)
        assert acked(redis_client, settings) == row_count(settings.database_url)
    finish(spawn, settings, consumer="w1")
    assert_exactly_once_and_cached(redis_client, settings, ids, users)


def test_second_sigterm_stops_a_worker_whose_commit_never_ends(
    redis_client, service_settings, spawn
):
    """The documented "a second signal stops at once", even while the commit thread is stuck in
    the database (the statement timeout is far off here); nothing uncommitted is acknowledged."""
    with sigterm_while_waiting_on_a_lock(
        redis_client, spawn, service_settings, seed=11, timeout_ms=120_000
    ) as (settings, worker, ids, users):
        wait_for(lambda: "finishing the current batch" in log_text(worker), 10, "first SIGTERM")
        worker.send_signal(signal.SIGTERM)
        try:
            assert worker.wait(timeout=10) == 128 + signal.SIGTERM, log_text(worker)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running 10 s after two SIGTERMs:\n{log_text(worker)[-2000:]}")
        assert acked(redis_client, settings) == row_count(settings.database_url)
    finish(spawn, settings, consumer="w1")
    assert_exactly_once_and_cached(redis_client, settings, ids, users)


def test_worker_refuses_to_run_on_a_database_without_migrations(
    service_settings, empty_database_url, spawn
):
    settings = service_settings.model_copy(update={"database_url": empty_database_url})
    process = spawn(settings, "run", "--until-empty")
    assert process.wait(timeout=60) == 2
    assert "python -m worker migrate" in log_text(process)


def test_partitions_command_drops_days_past_the_retention(service_settings, spawn):
    engine = make_engine(service_settings.database_url)
    today = datetime.now(UTC).date()
    old, kept = today - timedelta(days=11), today - timedelta(days=10)
    partitions.create_partitions(engine, old, kept)
    settings = service_settings.model_copy(update={"retention_days": 10})
    process = spawn(settings, "partitions")
    assert process.wait(timeout=60) == 0, log_text(process)
    dropped = log_text(process).split("dropped (older than 10 days): ")[1].split(";")[0]
    assert f"predictions_{old:%Y%m%d}" in dropped.split(", ")
    assert f"predictions_{kept:%Y%m%d}" not in dropped
    days = partitions.partition_days(engine)
    engine.dispose()
    assert old not in days and kept in days


def test_migrate_command_upgrades_an_empty_database(
    service_settings, empty_database_url, spawn, redis_client, predictor
):
    settings = service_settings.model_copy(update={"database_url": empty_database_url})
    process = spawn(settings, "migrate")
    assert process.wait(timeout=60) == 0, log_text(process)
    assert "database at revision create_outcomes" in log_text(process)
    engine = make_engine(settings.database_url)
    assert partitions.partitioned(engine)  # and the coming days have their partitions:
    today = datetime.now(UTC).date()
    days = [today + timedelta(days=n) for n in range(partitions.DAYS_AHEAD + 1)]
    assert set(days) <= set(partitions.partition_days(engine))
    records, ids, users = numbered_installs(20, seed=9)
    push_installs(redis_client, settings, records, ids)
    build_worker(settings, predictor, redis_client, engine).run(until_empty=True)
    engine.dispose()
    assert_exactly_once_and_cached(redis_client, settings, ids, users)
