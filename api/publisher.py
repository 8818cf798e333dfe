"""Publishing the API's predictions to the scored stream, off the request path.

A request only appends its items to an in-memory buffer; a background thread encodes them and
sends them in batches, one command each, so under load many requests share one round trip to Redis.
While Redis is unreachable the items stay in the buffer (bounded: the oldest are dropped first,
counted and logged) and are sent when Redis answers again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from redis.exceptions import ClusterError, RedisError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from tenacity import Retrying, retry_if_result

from adapters.connections import PUBLISH_WAIT
from adapters.stream_partitions import PartitionedStream, StreamLayout

log = logging.getLogger(__name__)

SEND_BATCH = 500
"""Entries per round trip to Redis."""
FLUSH_INTERVAL = 0.02
"""Seconds between two looks at the buffer: an item waits at most this long; under load many
share a round trip (which costs far more than one more entry in it). The thread wakes on its
own clock, never at a request's call: waking it from the request path handed it the GIL while
the request was still answering."""
LOG_EVERY_SECONDS = 10.0
"""At most one warning per this interval about failures and drops."""

UNREACHABLE = (RedisConnectionError, RedisTimeoutError, ClusterError, OSError)
"""Errors after which a batch is kept and sent again (ClusterError: a cluster failing over)."""


class PublishCounters:
    """Where the publisher reports what happened; the default does nothing."""

    def published(self, count: int) -> None: ...
    def failed(self) -> None: ...
    def dropped(self, count: int, reason: str) -> None: ...
    def buffered(self, size: int) -> None: ...


def as_fields(item: Any) -> Mapping[str, str]:
    return item


def no_user(item: Any) -> None:
    return None


class StreamPublisher:
    """Buffered, batched XADD of items to one stream kind, with a bounded retry buffer.

    `encode` turns an item into its stream fields, in the sending thread; an item it raises
    ValueError for is dropped (counted as `unencodable`, logged). `user_of` names an item's
    user, whose partition of the stream (`layout`) the item goes to.
    """

    def __init__(
        self,
        redis,
        stream: str,
        maxlen: int | None,
        capacity: int,
        counters: PublishCounters | None = None,
        encode: Callable[[Any], Mapping[str, str]] = as_fields,
        clock: Callable[[], float] = time.monotonic,
        layout: StreamLayout | None = None,
        user_of: Callable[[Any], str | None] = no_user,
    ):
        self.redis = redis
        self.stream = stream
        self.maxlen = maxlen
        self._target = PartitionedStream(redis, stream, layout or StreamLayout(), maxlen)
        self.user_of = user_of
        self.capacity = capacity
        self.counters = counters or PublishCounters()
        self.encode = encode
        self._clock = clock
        self._pending: deque[Any] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._dropped_unlogged = 0
        self._failures_unlogged = 0
        self._last_log = 0.0

    # --- request path ---------------------------------------------------------------------
    def publish(self, entries: list) -> None:
        """Queue items for the stream; never blocks on Redis."""
        with self._lock:
            overflow = len(self._pending) + len(entries) - self.capacity
            if overflow > 0:
                self._drop_oldest(overflow)
            self._pending.extend(entries[-self.capacity :] if overflow > 0 else entries)
            size = len(self._pending)
        self.counters.buffered(size)

    def _drop_oldest(self, overflow: int) -> None:
        """Make room (caller holds the lock): the oldest buffered entries go first."""
        from_buffer = min(overflow, len(self._pending))
        for _ in range(from_buffer):
            self._pending.popleft()
        self._dropped_unlogged += overflow
        self.counters.dropped(overflow, "buffer_full")

    @property
    def pending(self) -> int:
        return len(self._pending)

    # --- sending --------------------------------------------------------------------------
    def flush(self) -> bool:
        """Send every buffered entry now; False (entries kept) when Redis is unreachable."""
        while True:
            with self._lock:
                count = min(SEND_BATCH, len(self._pending))
                batch = [self._pending.popleft() for _ in range(count)]
            if not batch:
                return True
            if not self._send(batch):
                return False

    def _encode(self, batch: list) -> list[tuple[Any, Mapping[str, str]]]:
        encoded = []
        for item in batch:
            try:
                encoded.append((item, self.encode(item)))
            except ValueError as error:
                log.error("scored stream: entry dropped, cannot be encoded: %s", error)
                self.counters.dropped(1, "unencodable")
        return encoded

    def _send(self, batch: list) -> bool:
        encoded = self._encode(batch)
        if not encoded:
            return True
        batch = [item for item, _ in encoded]
        try:
            self._target.append_many((self.user_of(item), fields) for item, fields in encoded)
        except UNREACHABLE:
            self._put_back(batch)
            self._failures_unlogged += 1
            self.counters.failed()
            self._maybe_log()
            return False
        except ResponseError as error:  # Redis refused the entries (e.g. the key has another type)
            log.error("scored stream: Redis rejected %d entries: %s", len(batch), error)
            self.counters.dropped(len(batch), "rejected")
            return True
        except RedisError as error:  # the server answered, but not to the command: keep trying
            log.warning("scored stream: send failed: %s", error)
            self._put_back(batch)
            self.counters.failed()
            return False
        self.counters.published(len(batch))
        self.counters.buffered(len(self._pending))
        return True

    def _put_back(self, batch: list) -> None:
        """Return an unsent batch to the front of the buffer, dropping what no longer fits."""
        with self._lock:
            room = self.capacity - len(self._pending)
            if room < len(batch):
                lost = len(batch) - max(room, 0)
                batch = batch[lost:]
                self._dropped_unlogged += lost
                self.counters.dropped(lost, "buffer_full")
            self._pending.extendleft(reversed(batch))
            size = len(self._pending)
        self.counters.buffered(size)

    def _maybe_log(self) -> None:
        now = self._clock()
        if now - self._last_log < LOG_EVERY_SECONDS:
            return
        self._last_log = now
        log.warning(
            "scored stream: Redis unreachable (%d failed attempts), %d entries buffered, "
            "%d dropped since the last report",
            self._failures_unlogged,
            len(self._pending),
            self._dropped_unlogged,
        )
        self._failures_unlogged = 0
        self._dropped_unlogged = 0

    def warm_up(self, item: Any) -> None:
        """Run the sending path's code once without sending anything: encode `item` (then
        discard it) and have Redis compile the append script (best effort)."""
        self.encode(item)
        try:
            self._target.prepare()
        except RedisError as error:
            log.warning("warm-up: scored stream script not loaded: %s", error)

    # --- background thread ----------------------------------------------------------------
    def start(self) -> None:
        """Start the sending thread (in the serving process, after any fork)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="scored-publisher", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        """Flush every FLUSH_INTERVAL; while Redis is unreachable, try again after PUBLISH_WAIT
        pauses until it answers or close() is called."""
        retrying = Retrying(
            retry=retry_if_result(lambda sent: not sent),
            wait=PUBLISH_WAIT,
            stop=lambda _state: self._stop.is_set(),
            sleep=self._stop.wait,
            retry_error_callback=lambda _state: False,
        )
        while not self._stop.wait(timeout=FLUSH_INTERVAL):  # set by close()
            if self._pending and retrying(self.flush) and self._dropped_unlogged:
                self._maybe_log()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread and make a last attempt to send what is buffered."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._pending and not self.flush():
            log.error("scored stream: %d entries unsent at shutdown", len(self._pending))
            self.counters.dropped(len(self._pending), "shutdown")
