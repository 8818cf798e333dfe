"""Outcomes through the stream worker: stored once per user, corrections replace and say when,
bad entries dead-lettered in their partition; and the same faults as installs (killed before
the XACK, Postgres unreachable, duplicates, a Redis Cluster) lose nothing and double nothing."""

from __future__ import annotations

import signal
import time
from datetime import date

import pytest
from sqlalchemy import select

from adapters.outcomes import OutcomeStore, encode_outcome
from adapters.outcomes import outcomes as outcomes_table
from adapters.store import make_engine
from adapters.stream import EventStream
from adapters.stream_partitions import PartitionedStream, StreamLayout
from worker.faults import KILL_AFTER_COMMITS_ENV
from worker.push import push_csv
from worker.wiring import build_worker

from support.processes import log_text
from support.streams import dead_letter_ids, pending, wait_for
from support.tcp_proxy import TcpProxy


def outcomes(count, seed=1):
    return [
        {
            "user_id": f"user-{seed}-{i}",
            "revenue": round(0.01 * i, 2),
            "install_date": date(2026, 11, 1 + i % 20),
        }
        for i in range(count)
    ]


def outcome_streams(client, settings) -> PartitionedStream:
    """Every partition of the outcomes stream of `settings`."""
    layout = StreamLayout.of(settings)
    return PartitionedStream(client, settings.outcomes_stream, layout, settings.stream_maxlen)


def push_outcomes(client, settings, rows) -> list[str]:
    """Append outcomes, each to its user's partition, as POST /outcomes does."""
    return outcome_streams(client, settings).append_many(
        (row["user_id"], encode_outcome(row)) for row in rows
    )


def stored(database_url) -> dict[str, dict]:
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(select(outcomes_table)).mappings()
            return {row["user_id"]: dict(row) for row in rows}
    finally:
        engine.dispose()


def outcome_pending(client, settings) -> int:
    return pending(client, settings, settings.outcomes_stream)


def assert_each_once(client, settings, expected) -> None:
    found = stored(settings.database_url)
    assert set(found) == {row["user_id"] for row in expected}
    for row in expected:
        assert found[row["user_id"]]["revenue"] == row["revenue"]
        assert found[row["user_id"]]["install_date"] == row["install_date"]
    assert outcome_pending(client, settings) == 0


# --- unit: fakeredis and SQLite ------------------------------------------------------------


def test_outcomes_are_stored_once_and_corrections_replace_them(
    make_unit_worker, fake_redis, unit_settings
):
    worker = make_unit_worker()
    rows = outcomes(120)
    stream = worker.handler.streams[unit_settings.outcomes_stream]
    stream.append_many(encode_outcome(row) for row in rows)
    stream.append_many(encode_outcome(row) for row in rows[:30])  # the same ones again
    corrected = [dict(row, revenue=row["revenue"] + 1) for row in rows[:5]]
    stream.append_many(encode_outcome(row) for row in corrected)
    totals = worker.run(until_empty=True)
    assert totals.entries == 155 and totals.acked == 155 and totals.written == 155
    store = OutcomeStore(make_engine(unit_settings.database_url))
    assert store.count() == 120
    first = store.get(rows[0]["user_id"])
    assert first["revenue"] == rows[0]["revenue"] + 1 and first["corrected_at"] is not None
    assert store.get(rows[10]["user_id"])["corrected_at"] is None  # sent twice, unchanged
    assert fake_redis.xpending(stream.name, "scorers")["pending"] == 0


def test_bad_outcomes_are_dead_lettered_naming_the_field(
    make_unit_worker, fake_redis, unit_settings
):
    worker = make_unit_worker()
    stream = worker.handler.streams[unit_settings.outcomes_stream]
    good = outcomes(10, seed=2)
    stream.append_many(encode_outcome(row) for row in good)
    stream.append({"user_id": "u-bad", "revenue": "lots"})
    stream.append({"user_id": "u-negative", "revenue": "-1"})
    for _ in range(worker.handler.max_deliveries + 1):
        worker.run(until_empty=True)
    letters = fake_redis.xrange(worker.handler.dead_letters[stream.name].name)
    errors = {fields[b"user_id"]: fields[b"dead_letter_error"].decode() for _, fields in letters}
    assert set(errors) == {b"u-bad", b"u-negative"}
    assert all("revenue: " in error for error in errors.values()), errors
    assert OutcomeStore(make_engine(unit_settings.database_url)).count() == 10


def test_push_sends_an_outcomes_csv_and_refuses_one_without_revenue(fake_redis, tmp_path):
    path = tmp_path / "outcomes.csv"
    path.write_text("user_id,revenue,install_date,country\nu1,0.5,2026-11-20,us\nu2,0,,de\n")
    stream = EventStream(fake_redis, "outcomes")
    assert push_csv(stream, path, progress=False, kind="outcomes") == 2
    fields = [entry for _, entry in fake_redis.xrange("outcomes")]
    assert fields[0] == {b"user_id": b"u1", b"revenue": b"0.5", b"install_date": b"2026-11-20"}
    assert fields[1][b"install_date"] == b""
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,install_date\nu1,2026-11-20\n")
    with pytest.raises(ValueError, match="revenue missing"):
        push_csv(stream, bad, progress=False, kind="outcomes")


# --- integration: real worker processes, Redis and Postgres -------------------------------


def test_outcomes_survive_a_kill_between_commit_and_ack(redis_client, service_settings, spawn):
    rows = outcomes(300, seed=3)
    push_outcomes(redis_client, service_settings, rows)
    settings = service_settings.model_copy(update={"worker_batch_size": 20})
    dying = spawn(settings, "run", "--consumer", "dying", env={KILL_AFTER_COMMITS_ENV: "3"})
    assert dying.wait(timeout=60) == -signal.SIGKILL, log_text(dying)
    assert len(stored(settings.database_url)) == 60  # three batches written...
    assert outcome_pending(redis_client, settings) >= 20  # ...the third never acknowledged
    finisher = spawn(settings, "run", "--until-empty", "--consumer", "dying")
    assert finisher.wait(timeout=90) == 0, log_text(finisher)
    assert_each_once(redis_client, settings, rows)


def test_outcomes_wait_out_postgres_refusing_connections(redis_client, service_settings, spawn):
    proxy = TcpProxy(5432)
    proxy.up()
    through_proxy = service_settings.database_url.replace(":5432/", f":{proxy.port}/")
    settings = service_settings.model_copy(update={"database_url": through_proxy})
    rows = outcomes(600, seed=4)
    worker = spawn(settings, "run", "--consumer", "w1")
    try:
        push_outcomes(redis_client, settings, rows[:200])
        wait_for(lambda: len(stored(service_settings.database_url)) > 0, 60, "first outcomes")
        proxy.down()
        push_outcomes(redis_client, settings, rows[200:400])
        time.sleep(3)
        assert worker.poll() is None, "the worker gave up"
        proxy.up()
        push_outcomes(redis_client, settings, rows[400:])
        wait_for(lambda: len(stored(service_settings.database_url)) == 600, 60, "all outcomes")
        wait_for(lambda: outcome_pending(redis_client, settings) == 0, 30, "all acked")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        proxy.down()
    assert_each_once(redis_client, service_settings, rows)


def test_duplicated_and_corrected_outcomes_on_postgres(backend, predictor):
    client, settings = backend  # a single Redis, or a Redis Cluster with two partitions
    rows = outcomes(400, seed=5)
    push_outcomes(client, settings, rows)
    push_outcomes(client, settings, rows[::2])  # delivered twice
    final = [dict(row, revenue=9.5) if i % 7 == 0 else row for i, row in enumerate(rows)]
    push_outcomes(client, settings, [row for row in final if row["revenue"] == 9.5])
    partitions = outcome_streams(client, settings).partitions
    assert len(partitions) == settings.stream_partitions
    assert all(partition.length() > 0 for partition in partitions)
    engine = make_engine(settings.database_url)
    totals = build_worker(settings, predictor, client, engine).run(until_empty=True)
    engine.dispose()
    assert totals.acked == totals.entries == 400 + 200 + len(rows[::7])
    assert_each_once(client, settings, final)
    found = stored(settings.database_url)
    assert {user for user, row in found.items() if row["corrected_at"] is not None} == {
        row["user_id"] for row in rows[::7]
    }


def test_outcomes_on_partitions_are_all_stored_and_poison_is_dead_lettered_in_its_own(
    make_unit_worker, unit_settings, fake_redis, tmp_path
):
    settings = unit_settings.model_copy(update={"stream_partitions": 3, "max_deliveries": 1})
    rows = outcomes(90, seed=6)
    path = tmp_path / "outcomes.csv"
    path.write_text(
        "user_id,revenue,install_date\n"
        + "".join(f"{r['user_id']},{r['revenue']},{r['install_date']}\n" for r in rows)
    )
    streams = outcome_streams(fake_redis, settings)
    assert push_csv(streams, path, progress=False, kind="outcomes") == 90
    layout = StreamLayout.of(settings)
    for row in rows:  # each outcome on its user's partition
        partition = streams.for_user(row["user_id"])
        assert partition.name == layout.name("outcomes", layout.index_of(row["user_id"]))
    assert all(partition.length() > 0 for partition in streams.partitions)
    poisoned = streams.for_user("u-poison")
    bad_id = fake_redis.xadd(poisoned.name, {"user_id": "u-poison", "revenue": "x"}).decode()
    worker = make_unit_worker(stream_partitions=3, max_deliveries=1)
    totals = worker.run(until_empty=True)
    assert totals.written == 90 and totals.dead_lettered == 1
    assert_each_once(fake_redis, settings, rows)
    letters = dead_letter_ids(fake_redis, settings)
    index = layout.names(settings.outcomes_stream).index(poisoned.name)
    assert letters.pop(layout.name(settings.dead_letter_stream, index)) == [bad_id]
    assert all(found == [] for found in letters.values())
