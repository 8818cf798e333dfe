"""The worker on partitioned streams (fakeredis): every partition consumed, dead letters kept
per partition."""

from adapters.stream_partitions import StreamLayout

from support.streams import (
    dead_letter_ids,
    installs,
    pending,
    push_installs,
    rows,
    synthetic_installs,
)


def test_every_partition_is_consumed_and_poison_is_dead_lettered_in_its_partition(
    make_unit_worker, unit_settings, fake_redis
):
    settings = unit_settings.model_copy(update={"stream_partitions": 3, "max_deliveries": 1})
    records = synthetic_installs(120, seed=41)
    push_installs(fake_redis, settings, records, [f"e{i}" for i in range(120)])
    streams = installs(fake_redis, settings)
    assert all(partition.length() > 0 for partition in streams.partitions)
    poisoned = streams.for_user(records[0]["user_id"])
    bad_id = fake_redis.xadd(poisoned.name, {"event_1": "not a number"}).decode()
    worker = make_unit_worker(stream_partitions=3, max_deliveries=1)
    outcome = worker.run(until_empty=True)
    assert outcome.inserted == 120 and outcome.dead_lettered == 1
    assert {row["event_id"] for row in rows(settings.database_url)} == {f"e{i}" for i in range(120)}
    assert pending(fake_redis, settings) == 0
    layout = StreamLayout.of(settings)
    letters = dead_letter_ids(fake_redis, settings)
    index = layout.names(settings.installs_stream).index(poisoned.name)
    assert letters.pop(layout.name(settings.dead_letter_stream, index)) == [bad_id]
    assert all(found == [] for found in letters.values())
