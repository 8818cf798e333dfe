"""Partitioned streams: STREAM_PARTITIONS streams per kind, each user's events on one of them.

`StreamLayout.name` is the one place that names a partition. Partition i of every kind (the
install events, the scored stream, the dead letters) carries the hash tag `{i}`, so on a Redis
Cluster they share one slot: one XREADGROUP reads a partition's kinds together, and a dead
letter is moved in one MULTI. A single partition on a single Redis keeps the plain names
(`installs`, `scored`, `installs:dead`), so existing deployments keep their streams.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from adapters.stream import EventStream


@dataclass(frozen=True)
class StreamLayout:
    """How many partitions each stream kind has, and whether their names carry hash tags."""

    partitions: int = 1
    hash_tags: bool = False
    """Always tag names (a cluster): `installs:{0}` even with one partition."""

    @classmethod
    def of(cls, settings) -> StreamLayout:
        """STREAM_PARTITIONS, tagged on a cluster (REDIS_CLUSTER)."""
        return cls(settings.stream_partitions, settings.redis_cluster)

    def name(self, base: str, index: int) -> str:
        """The key of partition `index` of stream kind `base`."""
        if not 0 <= index < self.partitions:
            raise ValueError(f"partition {index} out of range(0, {self.partitions})")
        if self.partitions == 1 and not self.hash_tags:
            return base
        return f"{base}:{{{index}}}"

    def names(self, base: str) -> list[str]:
        """The keys of every partition of `base`, in partition order."""
        return [self.name(base, index) for index in range(self.partitions)]

    def index_of(self, user_id: str | None) -> int:
        """The partition of a user's events: CRC-32 of the user_id (stable across processes
        and releases, unlike `hash`) modulo the partition count; no user_id: partition 0."""
        if self.partitions == 1 or not user_id:
            return 0
        return zlib.crc32(user_id.encode()) % self.partitions


class PartitionedStream:
    """The partitions of one stream kind; an entry goes to the partition of its user."""

    def __init__(self, client, base: str, layout: StreamLayout, maxlen: int | None = 1_000_000):
        self.base = base
        self.layout = layout
        self.partitions = [EventStream(client, name, maxlen) for name in layout.names(base)]
        self.redis = client

    def for_user(self, user_id: str | None) -> EventStream:
        return self.partitions[self.layout.index_of(user_id)]

    def prepare(self) -> None:
        """Have Redis compile the append script (on a cluster, every primary loads it)."""
        self.partitions[0].prepare()

    def append_many(self, entries: Iterable[tuple[str | None, Mapping[str, Any]]]) -> list[str]:
        """XADD (user_id, fields) entries, each to its user's partition, one script call per
        partition, all in one round trip (a cluster pipeline sends each to its node); returns
        the entry ids in the order given."""
        if len(self.partitions) == 1:
            return self.partitions[0].append_many(fields for _, fields in entries)
        positions: dict[int, list[int]] = {}
        fields_of: dict[int, list[Mapping[str, Any]]] = {}
        count = 0
        for position, (user_id, fields) in enumerate(entries):
            index = self.layout.index_of(user_id)
            positions.setdefault(index, []).append(position)
            fields_of.setdefault(index, []).append(fields)
            count = position + 1
        if not count:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for index, fields in fields_of.items():
            self.partitions[index].append_many(fields, pipeline=pipe)
        ids: list[str] = [""] * count
        for index, replies in zip(fields_of, pipe.execute(), strict=True):
            for position, entry_id in zip(positions[index], replies, strict=True):
                ids[position] = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
        return ids

    def length(self) -> int:
        return sum(stream.length() for stream in self.partitions)
