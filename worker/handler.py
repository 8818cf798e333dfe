"""`BatchHandler.handle(batch)`: one batch of stream entries from parse to XACK.

Install events are validated one by one (`InstallRecord`), scored with one `predict_batch` call,
persisted in one transaction, cached, then acknowledged. Scored entries from the API are
persisted as they are. An entry that fails on its own is left pending for a later delivery and
goes to the dead-letter stream after `max_deliveries`; it never holds back the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from adapters.cache import PredictionCache
from adapters.store import PredictionStore
from adapters.stream import Entry, EventStream, decode_install_event, decode_scored
from scorer.schema import InstallRecord
from worker.faults import is_transient
from worker.predictions import Persisted, describe, persist_and_cache, score

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
    row: dict | None = None  # predictions row, for scored entries
    event_id: str = ""


class BatchHandler:
    """Processes batches from the install-events stream and the scored stream."""

    def __init__(
        self,
        predictor,
        store: PredictionStore,
        cache: PredictionCache,
        installs: EventStream,
        scored: EventStream,
        dead_letter: EventStream,
        group: str,
        max_deliveries: int,
    ):
        self.predictor = predictor
        self.store = store
        self.cache = cache
        self.streams = {installs.name: installs, scored.name: scored}
        self.installs_name = installs.name
        self.dead_letter_stream = dead_letter
        self.group = group
        self.max_deliveries = max_deliveries

    def check(self) -> None:
        """Fail fast when the database is unreachable or not migrated."""
        self.store.check()

    def handle(self, batch: Batch) -> Outcome:
        """Persist and cache every good entry, then acknowledge it; deal with the bad ones."""
        outcome = Outcome(entries=len(batch))
        items, failures, gone = self._parse(batch)
        try:
            persisted = self._process(items)
            done = items
        except Exception as error:
            if is_transient(error):
                raise
            log.warning("batch of %d failed (%s); processing entries one by one", len(items), error)
            persisted, done = self._process_one_by_one(items, failures)
        outcome.inserted, outcome.cached = persisted.inserted, persisted.cached
        outcome.acked = self._ack(done + gone)
        self._fail(failures, outcome)
        return outcome

    def _parse(self, batch: Batch) -> tuple[list[_Item], list[tuple[_Item, str]], list[_Item]]:
        items, failures, gone = [], [], []
        for stream, entries in batch.entries.items():
            for entry_id, raw in entries:
                item = _Item(stream, entry_id, raw)
                if raw is None:  # trimmed from the stream before it was processed
                    gone.append(item)
                    continue
                try:
                    if stream == self.installs_name:
                        event = decode_install_event(raw)
                        item.record = InstallRecord(**event.record)
                        item.event_id = event.event_id or f"{stream}:{entry_id}"
                    else:
                        item.row = decode_scored(raw)
                        item.event_id = item.row["event_id"]
                except (ValueError, TypeError) as error:
                    failures.append((item, describe(error)))
                    continue
                items.append(item)
        return items, failures, gone

    def _process(self, items: list[_Item]) -> Persisted:
        installs = [item for item in items if item.record is not None]
        rows = score(
            self.predictor,
            [item.record for item in installs],
            [item.event_id for item in installs],
            source="stream",
        )
        rows += [item.row for item in items if item.row is not None]
        return persist_and_cache(self.store, self.cache, rows)

    def _process_one_by_one(self, items, failures) -> tuple[Persisted, list[_Item]]:
        total, done = Persisted(), []
        for item in items:
            try:
                persisted = self._process([item])
            except Exception as error:
                if is_transient(error):
                    raise
                failures.append((item, describe(error)))
                continue
            done.append(item)
            total.inserted += persisted.inserted
            total.cached += persisted.cached
        return total, done

    def _ack(self, items: list[_Item]) -> int:
        acked = 0
        for name, stream in self.streams.items():
            ids = [item.entry_id for item in items if item.stream == name]
            acked += stream.ack(self.group, ids) if ids else 0
        return acked

    def _fail(self, failures: list[tuple[_Item, str]], outcome: Outcome) -> None:
        """Dead-letter the failures delivered `max_deliveries` times; leave the rest pending."""
        for name, stream in self.streams.items():
            mine = [(item, error) for item, error in failures if item.stream == name]
            if not mine:
                continue
            counts = stream.delivery_counts(self.group, [item.entry_id for item, _ in mine])
            letters = [
                (item.entry_id, item.fields, error, counts[item.entry_id])
                for item, error in mine
                if counts.get(item.entry_id, 0) >= self.max_deliveries
            ]
            stream.dead_letter(self.group, letters, to=self.dead_letter_stream)
            outcome.dead_lettered += len(letters)
            outcome.retrying += len(mine) - len(letters)
            for entry_id, _, error, deliveries in letters:
                log.warning(
                    "dead-lettered %s %s after %d deliveries: %s", name, entry_id, deliveries, error
                )
            for item, error in mine:
                if counts.get(item.entry_id, 0) < self.max_deliveries:
                    log.info("entry %s %s failed, will retry: %s", name, item.entry_id, error)
