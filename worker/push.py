"""`python -m worker push`: install records (or outcomes) from a CSV onto their stream, in
pipelined batches, optionally at a fixed rate, with a progress bar."""

from __future__ import annotations

import csv
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from adapters.outcomes import encode_outcome
from adapters.stream import EventStream, encode_install_event
from adapters.stream_partitions import PartitionedStream, StreamLayout
from scorer.outcome import INPUT_FIELDS, REQUIRED_FIELDS
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


@dataclass(frozen=True)
class CsvKind:
    """What a CSV row becomes: `encode(row, sent_at)` gives its stream fields; a header
    must hold one of `any_of` and all of `all_of`."""

    unit: str
    columns: str  # what its columns are called in errors
    encode: Callable[[dict, datetime], dict[str, str]]
    any_of: tuple[str, ...]
    all_of: tuple[str, ...] = ()

    def check_header(self, path: Path, header: set[str]) -> None:
        if not header & set(self.any_of):
            raise ValueError(f"{path}: no {self.columns} columns in the header")
        missing = [name for name in self.all_of if name not in header]
        if missing:
            raise ValueError(f"{path}: column(s) {', '.join(missing)} missing from the header")


KINDS = {
    "installs": CsvKind(
        "event",
        "install-record",
        lambda row, sent_at: encode_install_event(
            row, event_id=row.get("event_id") or None, sent_at=sent_at
        ),
        RECORD_COLUMNS,
    ),
    "outcomes": CsvKind(
        "outcome", "outcome", lambda row, _: encode_outcome(row), INPUT_FIELDS, REQUIRED_FIELDS
    ),
}
"""The kinds of rows `push_csv` sends, by name: install records (columns: record columns,
optional `event_id`) or outcomes (`user_id,revenue[,install_date]`); other columns are ignored."""


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
    kind: str = "installs",
) -> int:
    """XADD every row of `path` as one entry of `kind` (see KINDS), each to its user's
    partition (a plain `EventStream`: all to it); returns how many entries were pushed."""
    if isinstance(stream, EventStream):
        stream = PartitionedStream(stream.redis, stream.name, StreamLayout(), stream.maxlen)
    path = Path(path)
    rows = KINDS[kind]
    if rate:
        batch_size = max(1, min(batch_size, int(rate // PACED_BATCHES_PER_SECOND)))
    pushed = 0
    pacer = Pacer(rate)
    with (
        open(path, newline="", encoding="utf-8") as file,
        tqdm(total=count_rows(path), unit=rows.unit, disable=not progress) as bar,
    ):
        reader = csv.DictReader(file)
        rows.check_header(path, set(reader.fieldnames or ()))
        for batch in _batches(iter(reader), batch_size):
            sent_at = datetime.now(UTC)
            stream.append_many(
                (row.get("user_id") or None, rows.encode(row, sent_at)) for row in batch
            )
            pushed += len(batch)
            bar.update(len(batch))
            pacer.wait(pushed)
    return pushed
