"""`StreamWorker.run`: the consumer loop around `BatchHandler.prepare` and `.commit`.

It first re-reads this consumer's own pending entries, then reads new ones, claims entries left
idle by dead consumers (XAUTOCLAIM), trims the streams, and rides out Redis or Postgres outages
with backoff. It can stop after N messages or when the streams are empty, so tests drive it.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass

from tenacity import Retrying, retry_if_exception
from tenacity.wait import wait_base

from adapters.connections import OUTAGE_WAIT
from adapters.heartbeat import Heartbeat
from adapters.stream import EventStream, read_groups
from worker.faults import is_transient
from worker.handler import Batch, BatchHandler, Outcome

log = logging.getLogger(__name__)

HOUSEKEEPING_SECONDS = 30.0
"""How often streams are trimmed of acknowledged entries and idle consumers are removed."""
MAINTENANCE_SECONDS = 3600.0
"""How often the table maintenance given to the worker runs (the first time at the first
housekeeping, HOUSEKEEPING_SECONDS after the start)."""
CONSUMER_MAX_IDLE_MS = 24 * 3600 * 1000
"""Consumers idle this long with nothing pending are removed from the group."""


@dataclass(frozen=True)
class Chore:
    """Work the housekeeping does besides the streams, at most every `every_seconds` (at each
    housekeeping when that is shorter); `run` must be quick: it runs between two batches."""

    run: Callable[[], object]
    every_seconds: float = HOUSEKEEPING_SECONDS


def default_consumer_name() -> str:
    """Unique among live processes; a restarted container (same host name, pid 1) gets its old
    name back and so re-reads its own pending entries first."""
    return f"{socket.gethostname()}-{os.getpid()}"


class StreamWorker:
    """One consumer of the group, reading every stream of the handler."""

    def __init__(
        self,
        handler: BatchHandler,
        streams: list[EventStream],
        group: str,
        consumer: str,
        batch_size: int = 500,
        block_ms: int = 1000,
        claim_idle_ms: int = 60000,
        outage_wait: wait_base = OUTAGE_WAIT,
        pipelined: bool = True,
        heartbeat: Heartbeat | None = None,
        chores: Sequence[Chore] = (),
    ):
        """`heartbeat`: touched at every turn of the loop (a read, empty or not, or a retry
        after an outage), for the container health check. `chores`: run by the housekeeping
        when due (the partitions of the table, scheduling the monitoring job)."""
        self.handler = handler
        self.streams = streams
        self.group = group
        self.consumer = consumer
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.claim_every = min(claim_idle_ms / 2000, 5.0)
        self.outage_wait = outage_wait
        self.pipelined = pipelined
        self.heartbeat = heartbeat
        self.chores = tuple(chores)
        self._chores_due = [0.0] * len(self.chores)  # each one first at the first housekeeping
        self.stopping = False
        self._next_claim = 0.0
        self._claim_cursors = {stream.name: "0-0" for stream in streams}
        self._next_housekeeping = time.monotonic() + HOUSEKEEPING_SECONDS
        self._totals = Outcome()
        self._in_flight: Future | None = None

    # --- signals --------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        """First SIGTERM/SIGINT: finish and acknowledge the current batch, then stop. Second
        one: stop at once (unacknowledged entries stay pending and are processed again)."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum, _frame) -> None:
        if self.stopping:
            log.warning("second %s: stopping now", signal.Signals(signum).name)
            raise SystemExit(128 + signum)
        log.info("%s: finishing the current batch, then stopping", signal.Signals(signum).name)
        self.stopping = True

    # --- loop -----------------------------------------------------------------------------
    def run(self, max_messages: int | None = None, until_empty: bool = False) -> Outcome:
        """Process until stopped, until `max_messages` entries were taken, or (`until_empty`)
        until no entry is left to read or to claim. Returns the totals.

        While a backlog lasts (full batches), batch k is committed (insert, cache, XACK) in a
        second thread while batch k+1 is read, parsed and scored; commits stay in order, one at a
        time. A partial batch means the worker has caught up: it is committed at once, in this
        thread, since a hand-off would only add waiting for the GIL to its latency. Own pending
        entries are re-read and idle ones claimed only when no commit is in flight.
        """
        self._totals, self._in_flight = Outcome(), None
        self._taken, self._connected, self._pending_cursors = 0, False, {}
        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            wait=self.outage_wait,
            stop=lambda _state: self.stopping,
            sleep=self._sleep,
            after=self._after_outage,
            retry_error_callback=lambda _state: False,  # stopping: leave the loop
        )
        while not self.stopping:
            if retrying(self._step, max_messages, until_empty):
                break
        self._settle()  # stopping: a commit that fails now leaves its entries pending
        return self._totals

    def _step(self, max_messages: int | None, until_empty: bool) -> bool:
        """Take and process one batch; True when `run` is done. An outage raises (transient)."""
        if self.heartbeat is not None:
            self.heartbeat.beat()
        if not self._connected:
            self._settle()
            self._setup()
            self._connected = True
            self._pending_cursors = {stream.name: "0" for stream in self.streams}
        recovering = bool(self._pending_cursors)
        if recovering:
            batch = self._read_own_pending(self._pending_cursors)
        else:
            batch = self._claim() or self._read_new()
        if batch:
            self._taken += len(batch)
            prepared = self.handler.prepare(batch)
            self._collect()
            if self.pipelined and self._is_full(batch):
                self._in_flight = self._commit_in_background(prepared)
            else:
                self._totals += self.handler.commit(prepared)
        elif until_empty and not recovering and self._claim_done():
            self._collect()  # a failed last commit means more to do: not empty
            return True
        if max_messages is not None and self._taken >= max_messages:
            self._collect()
            return True
        self._housekeeping()
        return False

    def _after_outage(self, state) -> None:
        """After a step failed for an outage (also when stopping): log it, settle the commit in
        flight, and reconnect (re-reading own pending entries) at the next step."""
        self._settle()
        self._connected = False
        delay = self.outage_wait(state)
        log.warning("%s; retrying in %.1f s", state.outcome.exception(), delay)

    def _commit_in_background(self, prepared) -> Future:
        """`handler.commit(prepared)` in a daemon thread. Not a ThreadPoolExecutor: its threads
        are joined when the interpreter exits, so a commit stuck in a server would keep the
        process alive after a second signal (a hard stop), which must leave at once."""
        future: Future = Future()

        def commit() -> None:
            future.set_running_or_notify_cancel()
            try:
                future.set_result(self.handler.commit(prepared))
            except BaseException as error:  # the waiting thread re-raises it
                future.set_exception(error)

        threading.Thread(target=commit, name="commit", daemon=True).start()
        return future

    def _is_full(self, batch: Batch) -> bool:
        """A stream gave a whole page: more entries are probably waiting."""
        return any(len(entries) >= self.batch_size for entries in batch.entries.values())

    def _collect(self) -> None:
        """Wait for the commit in flight, if any, and add its outcome (or raise its error)."""
        future, self._in_flight = self._in_flight, None
        if future is not None:
            self._totals += future.result()

    def _settle(self) -> None:
        """Like `_collect`, after an error elsewhere: a failed commit is only logged (its
        entries stay pending and are read again)."""
        try:
            self._collect()
        except Exception as error:
            if not is_transient(error):
                raise
            log.warning("commit in flight failed: %s", error)

    def _setup(self) -> None:
        self.handler.check()
        for stream in self.streams:
            stream.ensure_group(self.group)

    def _read_own_pending(self, cursors: dict[str, str]) -> Batch:
        self._collect()
        return self._own_pending_page(cursors)

    def _own_pending_page(self, cursors: dict[str, str]) -> Batch:
        """The next page of entries delivered to this consumer earlier but never acknowledged
        (after a crash, an outage or a failure); a cursor is dropped once its stream is done."""
        batch = Batch()
        for stream in self.streams:
            if stream.name not in cursors:
                continue
            entries = stream.read_group(
                self.group, self.consumer, self.batch_size, pending=True, after=cursors[stream.name]
            )
            if entries:
                batch.entries[stream.name] = entries
                cursors[stream.name] = entries[-1][0]
            else:
                del cursors[stream.name]
        return batch

    def _read_new(self) -> Batch:
        entries = read_groups(
            self.streams, self.group, self.consumer, self.batch_size, self.block_ms
        )
        return Batch({name: found for name, found in entries.items() if found})

    def _claim(self) -> Batch | None:
        """XAUTOCLAIM entries idle for `claim_idle_ms`, a page at a time, every few seconds."""
        if time.monotonic() < self._next_claim:
            return None
        self._collect()  # never claim entries whose commit is still running
        batch = Batch()
        for stream in self.streams:
            cursor, claimed, deleted = stream.autoclaim(
                self.group,
                self.consumer,
                self.claim_idle_ms,
                self.batch_size,
                self._claim_cursors[stream.name],
            )
            self._claim_cursors[stream.name] = cursor
            if claimed:
                batch.entries[stream.name] = claimed
                log.info("claimed %d idle entries of %s", len(claimed), stream.name)
            if deleted:
                log.warning(
                    "%d pending entries of %s were trimmed unprocessed", len(deleted), stream.name
                )
        if self._claim_done():
            self._next_claim = time.monotonic() + self.claim_every
        return batch or None

    def _claim_done(self) -> bool:
        return all(cursor == "0-0" for cursor in self._claim_cursors.values())

    def _housekeeping(self) -> None:
        now = time.monotonic()
        if now < self._next_housekeeping:
            return
        self._next_housekeeping = now + HOUSEKEEPING_SECONDS
        for stream in self.streams:
            stream.trim_consumed()
            stream.prune_consumers(self.group, CONSUMER_MAX_IDLE_MS, keep=self.consumer)
        for index, chore in enumerate(self.chores):
            if now >= self._chores_due[index]:
                self._chores_due[index] = now + chore.every_seconds
                chore.run()

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
