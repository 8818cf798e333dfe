"""Heartbeat files: a long-running loop touches its file as it turns, and the container health
check (`python -m ops health worker | rq`) reads how long ago that was.

The signal is the process's own doing, kept on its local disk: the check needs no server, and
nothing outside the loop can make a live loop look dead (a blocking XREADGROUP on an empty
stream does not reset the consumer's idle time on Redis 7.0) or a dead one look alive.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)

ROLES = ("worker", "rq")
"""The processes that beat: the stream worker and the rq worker (the health checks' names)."""
BEAT_EVERY_SECONDS = 1.0
"""Touch the file at most this often: a loop turning many times a second pays a clock read."""
MAX_AGE_SECONDS = 60.0
"""The health checks' default: a beat older than this means the loop has stopped turning (the
stream worker turns at least every WORKER_BLOCK_MS plus a batch, the rq worker every
worker.jobs.RQ_BEAT_SECONDS)."""


class Heartbeat:
    """The heartbeat file of one role in HEARTBEAT_DIR."""

    def __init__(self, path: str | Path, every: float = BEAT_EVERY_SECONDS):
        self.path = Path(path)
        self.every = every
        self._next = 0.0
        self._failing = False

    @classmethod
    def of(cls, settings, role: str) -> Heartbeat:
        """The file of `role` (one of ROLES) under the settings' HEARTBEAT_DIR."""
        if role not in ROLES:
            raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
        return cls(Path(settings.heartbeat_dir) / f"{role}.heartbeat")

    def beat(self) -> None:
        """Touch the file, unless it was touched less than `every` seconds ago. A file that
        cannot be written is logged (once) and never stops the loop; the check then finds it
        stale and says so."""
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.every
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.touch()
        except OSError as error:
            if not self._failing:
                log.warning("heartbeat %s not written: %s", self.path, error)
            self._failing = True
        else:
            self._failing = False

    def age(self) -> float:
        """Seconds since the last beat; FileNotFoundError when there was none."""
        return max(0.0, time.time() - self.path.stat().st_mtime)
