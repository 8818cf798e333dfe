import pytest

from adapters.settings import Settings
from adapters.stream_partitions import PartitionedStream, StreamLayout


def test_one_partition_on_a_single_redis_keeps_the_plain_names():
    assert StreamLayout().names("installs") == ["installs"]
    assert StreamLayout.of(Settings()).name("installs:dead", 0) == "installs:dead"


def test_partitions_carry_the_hash_tag_of_their_index():
    layout = StreamLayout(3)
    assert layout.names("installs") == ["installs:{0}", "installs:{1}", "installs:{2}"]
    assert layout.name("installs:dead", 1) == "installs:dead:{1}"
    on_a_cluster = Settings(redis_cluster=True, rq_redis_url="redis://127.0.0.1:6379/0")
    assert StreamLayout.of(on_a_cluster).names("scored") == ["scored:{0}"]
    with pytest.raises(ValueError, match="partition 3"):
        layout.name("installs", 3)


def test_a_user_always_lands_on_the_same_partition_and_users_spread():
    layout = StreamLayout(4)
    users = [f"user-{i}" for i in range(2000)]
    first = [layout.index_of(user) for user in users]
    assert first == [StreamLayout(4).index_of(user) for user in users]
    shares = [first.count(index) / len(users) for index in range(4)]
    assert all(0.2 < share < 0.3 for share in shares), shares
    assert layout.index_of(None) == layout.index_of("") == 0
    assert StreamLayout(1).index_of("anyone") == 0


def test_append_many_routes_each_entry_to_its_users_partition_in_order(fake_redis):
    stream = PartitionedStream(fake_redis, "installs", StreamLayout(3), maxlen=None)
    entries = [(f"u{i % 7}", {"n": str(i)}) for i in range(60)]
    ids = stream.append_many(entries)
    assert len(ids) == 60 and stream.length() == 60
    for partition in stream.partitions:
        found = [(f[b"n"].decode(), i.decode()) for i, f in fake_redis.xrange(partition.name)]
        expected = [
            (fields["n"], entry_id)
            for (user, fields), entry_id in zip(entries, ids, strict=True)
            if stream.for_user(user) is partition
        ]
        assert found == expected
    assert stream.append_many([]) == []


def test_one_partition_appends_to_the_plain_stream(fake_redis):
    stream = PartitionedStream(fake_redis, "installs", StreamLayout(), maxlen=None)
    (entry_id,) = stream.append_many([("u1", {"n": "1"})])
    assert fake_redis.xrange("installs")[0][0].decode() == entry_id


def test_a_cluster_requires_a_plain_redis_for_rq():
    with pytest.raises(ValueError, match="rq_redis_url"):
        Settings(redis_cluster=True)
