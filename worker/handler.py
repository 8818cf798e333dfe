"""`BatchHandler.handle(batch)`: one batch of stream entries from parse to XACK.

Install events are validated one by one (`InstallRecord`), stamped with their event time (the
event's `sent_at`, else the entry's time) and scored with one `predict_batch` call (`prepare`),
then persisted in one transaction, cached (newest wins) and acknowledged (`commit`). Scored
entries from the API are persisted as they are. Other kinds of streams (outcomes) are declared by
a `StreamKind`: their entries are decoded, written by its writer and then acknowledged. An entry
that fails on its own is left pending for a later delivery and goes to the dead-letter stream
after `max_deliveries`; it never holds back the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from adapters.cache import PredictionCache
from adapters.store import PredictionStore
from adapters.stream import Entry, EventStream, decode_install_event, decode_scored
from scorer.prediction import KEY
from scorer.predictor import PredictorLike
from scorer.schema import InstallRecord
from worker.faults import is_transient
from worker.predictions import (
    Persisted,
    describe,
    parse_event_time,
    persist_and_cache,
    predict_events,
)

log = logging.getLogger(__name__)


@dataclass
class Batch:
    """Entries read together: {stream name: [(entry id, raw fields)]}."""

    entries: dict[str, list[Entry]] = field(default_factory=dict)

    def __len__(self) -> int:
        return sum(len(entries) for entries in self.entries.values())


@dataclass
class Outcome:
    """What happened to the entries of one or more batches."""

    entries: int = 0
    inserted: int = 0
    cached: int = 0
    acked: int = 0
    written: int = 0  # rows written by the writers of the other stream kinds
    retrying: int = 0  # failed, left pending for another delivery
    dead_lettered: int = 0

    def __iadd__(self, other: Outcome) -> Outcome:
        for name in (f.name for f in fields(self)):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


@dataclass
class _Item:
    stream: str
    entry_id: str
    fields: Mapping | None
    record: Any = None  # InstallRecord, for install events
    row: dict | None = None  # its predictions row (decoded, or once scored)
    event_id: str = ""
    event_time: datetime | None = None  # for install events


@dataclass
class Prepared:
    """A parsed and scored batch, ready to commit."""

    entries: int = 0
    items: list[_Item] = field(default_factory=list)  # each with its predictions row
    failures: list[tuple[_Item, str]] = field(default_factory=list)
    gone: list[_Item] = field(default_factory=list)  # trimmed before processing: just ack
    other: list[_Item] = field(default_factory=list)  # entries of the other stream kinds


@dataclass(frozen=True)
class StreamKind:
    """A stream kind whose entries are written as they are, not scored: `streams` are its
    partitions, `decode` turns an entry's raw fields into a row (raising ValueError naming the
    field), `write` stores a list of rows in one transaction (idempotently: entries can be
    delivered again), `check` fails fast when its table is missing."""

    streams: Sequence[EventStream]
    decode: Callable[[Mapping | None], dict]
    write: Callable[[list[dict]], Any]
    check: Callable[[], None] = lambda: None


def entry_time(entry_id: str) -> datetime:
    """The time Redis stamped on a stream entry: its id's milliseconds, the same on every
    delivery of the entry."""
    return datetime.fromtimestamp(int(entry_id.partition("-")[0]) / 1000, UTC)


class BatchHandler:
    """Processes batches from the install-events streams and the scored streams (every
    partition of each kind)."""

    def __init__(
        self,
        predictor: PredictorLike,
        store: PredictionStore,
        cache: PredictionCache,
        installs: Sequence[EventStream],
        scored: Sequence[EventStream],
        dead_letters: Mapping[str, EventStream],
        group: str,
        max_deliveries: int,
        kinds: Sequence[StreamKind] = (),
    ):
        """`dead_letters`: the dead-letter stream of each stream, by its name (on a cluster,
        one in the same slot, so that a letter moves in one MULTI). `kinds`: the other stream
        kinds (outcomes), every partition of each."""
        self.other_kinds = tuple(kinds)
        self.kinds = {stream.name: kind for kind in kinds for stream in kind.streams}
        streams = [*installs, *scored, *(stream for kind in kinds for stream in kind.streams)]
        if not all(s.redis is cache.redis for s in [*streams, *dead_letters.values()]):
            raise ValueError("the cache and the streams must share one Redis client")
        if set(dead_letters) != {stream.name for stream in streams}:
            raise ValueError("every stream needs its dead-letter stream")
        self.predictor = predictor
        self.store = store
        self.cache = cache
        self.redis = cache.redis
        self.streams = {stream.name: stream for stream in streams}
        self.install_streams = frozenset(stream.name for stream in installs)
        self.dead_letters = dict(dead_letters)
        self.group = group
        self.max_deliveries = max_deliveries
        self.after_commit: Callable[[], None] | None = None  # fault injection (tests)

    def check(self) -> None:
        """Fail fast when the database is unreachable or not migrated."""
        self.store.check()
        for kind in self.other_kinds:
            kind.check()

    def handle(self, batch: Batch) -> Outcome:
        """Persist and cache every good entry, then acknowledge it; deal with the bad ones."""
        return self.commit(self.prepare(batch))

    def prepare(self, batch: Batch) -> Prepared:
        """The CPU half of `handle`: parse every entry, score the install events in one
        `predict_batch` call. Touches no database and acknowledges nothing."""
        prepared = Prepared(entries=len(batch))
        for stream, entries in batch.entries.items():
            for entry_id, raw in entries:
                self._parse(_Item(stream, entry_id, raw), prepared)
        installs = [item for item in prepared.items if item.record is not None]
        try:
            self._score(installs)
        except Exception as error:
            if is_transient(error):
                raise
            log.warning("scoring %d events failed (%s); one by one", len(installs), error)
            for item in installs:
                try:
                    self._score([item])
                except Exception as one_error:
                    if is_transient(one_error):
                        raise
                    prepared.items.remove(item)
                    prepared.failures.append((item, describe(one_error)))
        return prepared

    def commit(self, prepared: Prepared) -> Outcome:
        """The I/O half of `handle`: one transaction, then the cache SETs and the XACKs in one
        Redis round trip (in that order); failures are left pending or dead-lettered. Safe to
        run in another thread than `prepare`."""
        outcome = Outcome(entries=prepared.entries)
        items, failures = prepared.items, list(prepared.failures)
        pipe = self.redis.pipeline(transaction=False)
        try:
            rows = [item.row for item in items]
            persisted = persist_and_cache(self.store, self.cache, rows, pipe)
            done = items
        except Exception as error:
            if is_transient(error):
                raise
            log.warning("batch of %d failed (%s); one entry at a time", len(items), error)
            pipe.reset()
            persisted, done = self._persist_one_by_one(items, failures)
        if prepared.other:
            written, others = self._write_others(prepared.other, failures)
            outcome.written, done = written, done + others
        if self.after_commit is not None:
            self.after_commit()
        outcome.inserted, outcome.cached = persisted.inserted, persisted.cached
        outcome.acked = self._ack(done + prepared.gone, pipe)
        self._fail(failures, outcome)
        return outcome

    def _parse(self, item: _Item, prepared: Prepared) -> None:
        if item.fields is None:  # trimmed from the stream before it was processed
            prepared.gone.append(item)
            return
        try:
            if item.stream in self.kinds:
                item.row = self.kinds[item.stream].decode(item.fields)
                prepared.other.append(item)
                return
            if item.stream in self.install_streams:
                event = decode_install_event(item.fields)
                item.record = InstallRecord(**event.record)
                item.event_id = event.event_id or f"{item.stream}:{item.entry_id}"
                item.event_time = (
                    parse_event_time("sent_at", event.sent_at)
                    if event.sent_at
                    else entry_time(item.entry_id)
                )
            else:
                item.row = decode_scored(item.fields)
                item.event_id = item.row[KEY]
        except (ValueError, TypeError) as error:
            prepared.failures.append((item, describe(error)))
            return
        prepared.items.append(item)

    def _score(self, items: list[_Item]) -> None:
        rows = predict_events(
            self.predictor,
            [item.record for item in items],
            [item.event_id for item in items],
            [item.event_time for item in items],
            source="stream",
        )
        for item, row in zip(items, rows, strict=True):
            item.row = row

    def _persist_one_by_one(self, items, failures) -> tuple[Persisted, list[_Item]]:
        total, done = Persisted(), []
        for item in items:
            try:
                persisted = persist_and_cache(self.store, self.cache, [item.row])
            except Exception as error:
                if is_transient(error):
                    raise
                failures.append((item, describe(error)))
                continue
            done.append(item)
            total.inserted += persisted.inserted
            total.cached += persisted.cached
        return total, done

    def _write_others(self, items: list[_Item], failures) -> tuple[int, list[_Item]]:
        """Write the entries of the other stream kinds, each kind's in one transaction (one at
        a time after a failure that is not an outage); returns rows written and items done."""
        written, done = 0, []
        for kind in self.other_kinds:
            mine = [item for item in items if self.kinds[item.stream] is kind]
            if not mine:
                continue
            name = ", ".join(sorted({item.stream for item in mine}))
            try:
                kind.write([item.row for item in mine])
                written, done = written + len(mine), done + mine
            except Exception as error:
                if is_transient(error):
                    raise
                log.warning("%d %s entries failed (%s); one at a time", len(mine), name, error)
                for item in mine:
                    try:
                        kind.write([item.row])
                    except Exception as one_error:
                        if is_transient(one_error):
                            raise
                        failures.append((item, describe(one_error)))
                        continue
                    written, done = written + 1, done + [item]
        return written, done

    def _ack(self, items: list[_Item], pipe) -> int:
        """Queue the XACKs after whatever `pipe` holds (the cache SETs), send it all, and return
        how many entries were acknowledged."""
        by_stream: dict[str, list[str]] = {}
        for item in items:
            by_stream.setdefault(item.stream, []).append(item.entry_id)
        for name, ids in by_stream.items():
            self.streams[name].ack(self.group, ids, pipeline=pipe)
        acks = len(by_stream)
        if not len(pipe):
            return 0
        replies = pipe.execute()
        return sum(replies[len(replies) - acks :])

    def _fail(self, failures: list[tuple[_Item, str]], outcome: Outcome) -> None:
        """Dead-letter the failures delivered `max_deliveries` times; leave the rest pending."""
        by_stream: dict[str, list[tuple[_Item, str]]] = {}
        for item, error in failures:
            by_stream.setdefault(item.stream, []).append((item, error))
        for name, mine in by_stream.items():
            stream = self.streams[name]
            counts = stream.delivery_counts(self.group, [item.entry_id for item, _ in mine])
            letters = [
                (item.entry_id, item.fields, error, counts[item.entry_id])
                for item, error in mine
                if counts.get(item.entry_id, 0) >= self.max_deliveries
            ]
            stream.dead_letter(self.group, letters, to=self.dead_letters[name])
            outcome.dead_lettered += len(letters)
            outcome.retrying += len(mine) - len(letters)
            for entry_id, _, error, deliveries in letters:
                log.warning(
                    "dead-lettered %s %s after %d deliveries: %s", name, entry_id, deliveries, error
                )
            for item, error in mine:
                if counts.get(item.entry_id, 0) < self.max_deliveries:
                    log.info("entry %s %s failed, will retry: %s", name, item.entry_id, error)
