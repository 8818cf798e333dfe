"""The stream worker on the local Redis Cluster (two partitions): a master killed mid-stream,
and three workers of which one is killed. Each ends with every event exactly once in Postgres,
every user cached and nothing pending."""

import signal
import time

import pytest
import redis

from support import streams

pytestmark = pytest.mark.slow  # thousands of events through worker processes, a failover

CHUNK = 20
"""Events per producer call."""


def _entry_key(entry_id: bytes) -> tuple[int, int]:
    milliseconds, sequence = entry_id.split(b"-")
    return int(milliseconds), int(sequence)


def still_working(client, settings) -> bool:
    """Entries of the install partitions pending in the group or not read by it yet, or the
    group not there: a failover that lost the group's creation (asynchronous replication)
    leaves it missing until the worker makes it again."""
    group_name = settings.consumer_group.encode()
    for stream in streams.installs(client, settings).partitions:
        if not client.exists(stream.name):
            continue
        group = next((g for g in client.xinfo_groups(stream.name) if g["name"] == group_name), None)
        if group is None or group["pending"]:
            return True
        newest = client.xinfo_stream(stream.name)["last-generated-id"]
        if _entry_key(group["last-delivered-id"]) < _entry_key(newest):
            return True
    return False


def settled(database_url, client, settings, quiet_seconds=3.0, timeout=120.0) -> int:
    """The row count once every entry was read and acknowledged and the count has not moved
    for `quiet_seconds`."""
    last, since, deadline = -1, time.monotonic(), time.monotonic() + timeout
    while True:
        count = streams.row_count(database_url)
        if count != last or still_working(client, settings):
            last, since = count, time.monotonic()
        elif time.monotonic() - since >= quiet_seconds:
            return count
        if time.monotonic() > deadline:
            raise AssertionError(f"not settled after {timeout} s ({count} rows)")
        time.sleep(0.2)


def send_until_accepted(client, settings, records, ids, deadline_seconds=30.0) -> None:
    """A producer: resend a chunk until Redis accepts it (the cluster fails over meanwhile)."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        try:
            streams.push_installs(client, settings, records, ids)
            return
        except redis.RedisError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_master_killed_mid_stream_then_resends_repair_what_failover_lost(
    redis_cluster, redis_cluster_client, cluster_settings, spawn
):
    client, settings = redis_cluster_client, cluster_settings
    records, ids, users = streams.numbered_installs(3000, seed=31)
    worker = spawn(settings, "run", "--consumer", "w1")
    first = streams.installs(client, settings).partitions[0].name
    victim = client.get_node_from_key(first).port
    accepted = []
    try:
        for start in range(0, len(ids), CHUNK):
            if start == len(ids) // 3:
                redis_cluster.kill(victim)  # its replica takes over after the node timeout
            chunk = slice(start, start + CHUNK)
            send_until_accepted(client, settings, records[chunk], ids[chunk])
            accepted += ids[chunk]
            time.sleep(0.005)
        persisted = settled(settings.database_url, client, settings)
        found = {row["event_id"] for row in streams.rows(settings.database_url)}
        lost = [event_id for event_id in accepted if event_id not in found]
        print(
            f"\nfailover of master {victim}: {len(lost)} of {len(accepted)} acknowledged events"
            f" lost ({persisted} rows before the producers' resends)"
        )
        assert len(accepted) == len(ids) and persisted == len(found) == len(ids) - len(lost)
        for start in range(0, len(ids), 500):  # producers resend with the same event_ids
            chunk = slice(start, start + 500)
            send_until_accepted(client, settings, records[chunk], ids[chunk])
        streams.wait_for(
            lambda: streams.row_count(settings.database_url) == len(ids), 90, "every event"
        )
        streams.wait_for(lambda: streams.pending(client, settings) == 0, 30, "nothing pending")
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        redis_cluster.restart(victim)
    streams.assert_exactly_once_and_cached(client, settings, ids, users)


def test_three_workers_one_killed_every_event_scored_once(
    redis_cluster_client, cluster_settings, spawn
):
    client, settings = (
        redis_cluster_client,
        cluster_settings.model_copy(update={"worker_batch_size": 20}),
    )
    records, ids, users = streams.numbered_installs(3000, seed=32)
    workers = [spawn(settings, "run", "--consumer", f"w{i}") for i in range(3)]
    first = streams.installs(client, settings).partitions[0].name

    def reading() -> bool:
        if not client.exists(first):
            return False
        names = {info["name"] for info in client.xinfo_consumers(first, settings.consumer_group)}
        return names >= {b"w0", b"w1", b"w2"}

    streams.wait_for(reading, 60, "three workers reading")
    streams.push_installs(client, settings, records, ids)
    streams.wait_for(lambda: streams.row_count(settings.database_url) >= 300, 60, "300 rows")
    workers[0].send_signal(signal.SIGKILL)
    workers[0].wait(timeout=10)
    assert streams.row_count(settings.database_url) < len(ids), "killed too late to test"
    streams.wait_for(lambda: streams.row_count(settings.database_url) == len(ids), 90, "all rows")
    streams.wait_for(lambda: streams.pending(client, settings) == 0, 30, "the dead one's entries")
    for worker in workers[1:]:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    streams.assert_exactly_once_and_cached(client, settings, ids, users)
