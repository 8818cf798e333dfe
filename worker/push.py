"""`python -m worker push`: install records from a CSV onto the install-events stream, in
pipelined batches, optionally at a fixed rate, with a progress bar."""

from __future__ import annotations

import csv
import itertools
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from adapters.stream import EventStream, encode_install_event
from adapters.stream_partitions import PartitionedStream, StreamLayout
from scorer.schema import RECORD_COLUMNS

PACED_BATCHES_PER_SECOND = 20
"""At a fixed rate, events go out in this many small batches per second."""


class Pacer:
    """Sleeps so that `sent` events never run ahead of `rate` events per second."""

    def __init__(self, rate: float | None):
        self.rate = rate
        self.start = time.monotonic()

    def wait(self, sent: int) -> None:
        if self.rate:
            delay = self.start + sent / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)


def count_rows(path: Path) -> int:
    with open(path, "rb") as file:
        return max(0, sum(1 for _ in file) - 1)


def _batches(rows: Iterator[dict], size: int) -> Iterator[list[dict]]:
    while batch := list(itertools.islice(rows, size)):
        yield batch


def push_csv(
    stream: PartitionedStream | EventStream,
    path: str | Path,
    rate: float | None = None,
    batch_size: int = 500,
    progress: bool = True,
) -> int:
    """XADD every row of `path` (columns: record columns, optional `event_id`; others such as
    `revenue` are ignored), each to its user's partition (a plain `EventStream`: all to it);
    returns how many events were pushed."""
    if isinstance(stream, EventStream):
        stream = PartitionedStream(stream.redis, stream.name, StreamLayout(), stream.maxlen)
    path = Path(path)
    if rate:
        batch_size = max(1, min(batch_size, int(rate // PACED_BATCHES_PER_SECOND)))
    pushed = 0
    pacer = Pacer(rate)
    with (
        open(path, newline="", encoding="utf-8") as file,
        tqdm(total=count_rows(path), unit="event", disable=not progress) as bar,
    ):
        reader = csv.DictReader(file)
        if not set(reader.fieldnames or ()) & set(RECORD_COLUMNS):
            raise ValueError(f"{path}: no install-record columns in the header")
        for batch in _batches(iter(reader), batch_size):
            sent_at = datetime.now(UTC)
            stream.append_many(
                (
                    row.get("user_id") or None,
                    encode_install_event(
                        row, event_id=row.get("event_id") or None, sent_at=sent_at
                    ),
                )
                for row in batch
            )
            pushed += len(batch)
            bar.update(len(batch))
            pacer.wait(pushed)
    return pushed
