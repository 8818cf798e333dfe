"""The monitoring gauges: declared once, kept in Redis as one JSON snapshot, exposed by /metrics.

A scheduled rq job (`worker.monitoring.refresh_gauges`) computes the figures and writes them
with `GaugeBoard.write`; every API process reads the same snapshot when Prometheus scrapes
/metrics (`GaugeCollector`), so the figures, which are global rather than per process, appear
once whatever the number of API or worker replicas. The stream worker's housekeeping enqueues
the job (`schedule_refresh`), at most once per interval across all its replicas.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from redis.exceptions import RedisError
from rq import Queue

log = logging.getLogger(__name__)

GAUGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "d7_calibration_ratio": (
        "Predicted / actual D7 revenue of the last complete cohorts, by stage and country group.",
        ("stage", "country_group"),
    ),
    "d7_calibration_coverage": (
        "Share of the last complete cohorts' uncertain users inside their 80% interval.",
        ("stage", "country_group"),
    ),
    "d7_calibration_users": (
        "Users with an outcome and a prediction in the last complete cohorts.",
        ("stage", "country_group"),
    ),
    "d7_input_psi": (
        "Population stability index of an input of today's predictions against training.",
        ("feature",),
    ),
    "d7_input_unseen_share": (
        "Share of today's predictions with a category training never had (feature any: any).",
        ("feature",),
    ),
    "d7_outcomes_overdue": (
        "Predictions of the last 4 weeks past their outcome's due date without an outcome.",
        (),
    ),
    "d7_stream_lag": (
        "Entries of a stream (each partition of each kind) not yet delivered to the group.",
        ("stream",),
    ),
    "d7_stream_pending": (
        "Entries of a stream (each partition of each kind) delivered and not yet acknowledged.",
        ("stream",),
    ),
    "d7_dead_letters": ("Entries in the dead-letter streams (every partition).", ()),
    "d7_monitoring_refreshed_timestamp_seconds": (
        "When these monitoring gauges were last computed (Unix time).",
        (),
    ),
}
"""Every monitoring gauge: its help and label names. Alert rules may use only these and the API's
own metrics (tests/ops/test_alerts.py)."""
REFRESHED = "d7_monitoring_refreshed_timestamp_seconds"
SNAPSHOT_KEY = "monitoring:gauges"
LOCK_KEY = "monitoring:refresh-scheduled"
REFRESH_JOB = "worker.monitoring.refresh_gauges"
"""Import path of the job that computes the gauges (so adapters never import the worker)."""

Sample = tuple[Mapping[str, str], float]
"""One value of a gauge: its labels and the value."""


class GaugeBoard:
    """The latest snapshot of the gauges in Redis: {gauge name: [[labels, value], ...]}."""

    def __init__(self, redis, key: str = SNAPSHOT_KEY):
        self.redis = redis
        self.key = key

    def write(self, samples: Mapping[str, Sequence[Sample]], now: float | None = None) -> None:
        unknown = set(samples) - set(GAUGES)
        if unknown:
            raise ValueError(f"undeclared gauge(s): {', '.join(sorted(unknown))}")
        snapshot = {name: [[dict(labels), value] for labels, value in found]
                    for name, found in samples.items()}  # fmt: skip
        snapshot[REFRESHED] = [[{}, time.time() if now is None else now]]
        self.redis.set(self.key, json.dumps(snapshot))

    def read(self) -> dict[str, list[Sample]]:
        raw = self.redis.get(self.key)
        if raw is None:
            return {}
        return {name: [(labels, value) for labels, value in found]
                for name, found in json.loads(raw).items() if name in GAUGES}  # fmt: skip


class GaugeCollector:
    """A prometheus_client collector of the snapshot: nothing while none was written or Redis
    cannot be read (a scrape never fails for it; the staleness alert notices)."""

    def __init__(self, board: GaugeBoard):
        self.board = board

    def describe(self) -> list:
        return []  # values come and go with the snapshot: never checked at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            snapshot = self.board.read()
        except (RedisError, ValueError) as error:
            log.warning("monitoring gauges unavailable: %s", error)
            return
        for name, samples in snapshot.items():
            help_text, labels = GAUGES[name]
            family = GaugeMetricFamily(name, help_text, labels=labels)
            for values, value in samples:
                if value is not None and value == value:
                    family.add_metric([str(values.get(label, "")) for label in labels], value)
            yield family


def schedule_refresh(redis, queue: Queue, interval_seconds: int) -> bool:
    """Enqueue the refresh job unless one was enqueued less than `interval_seconds` ago (by any
    replica: a Redis key with that TTL). Returns whether it enqueued."""
    if not redis.set(LOCK_KEY, b"1", nx=True, ex=interval_seconds):
        return False
    queue.enqueue_call(
        REFRESH_JOB,
        timeout=max(interval_seconds, 60),
        result_ttl=interval_seconds,
        failure_ttl=24 * 3600,
        description="refresh the monitoring gauges",
    )
    return True


def stream_state(redis, stream: str, group: str) -> dict[str, Any]:
    """The group's lag (entries not yet delivered; None when Redis cannot tell) and pending."""
    try:
        groups = redis.xinfo_groups(stream)
    except RedisError:  # no such stream yet
        return {"lag": 0, "pending": 0}
    for found in groups:
        name = found.get("name")
        if (name.decode() if isinstance(name, bytes) else name) == group:
            return {"lag": found.get("lag"), "pending": found.get("pending", 0)}
    return {"lag": redis.xlen(stream), "pending": 0}
