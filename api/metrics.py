"""Prometheus metrics of the API: requests, latency, predictions by stage and by flag, stream
publishing.

Under gunicorn (`python -m api`) every worker process writes its values to the directory named by
PROMETHEUS_MULTIPROC_DIR and `/metrics` adds them up across processes; without that variable
(tests, `flask run`) the values live in a registry of the app's own.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import values as prometheus_values

from scorer.flags import FLAGS
from scorer.schema import STAGES

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
"""Request latency buckets (seconds): the API answers in about a millisecond."""


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


class ApiMetrics:
    """Every metric of one app, registered in a registry of its own (no global state)."""

    def __init__(self) -> None:
        if multiprocess_dir() and prometheus_values.ValueClass is prometheus_values.MutexValue:
            raise RuntimeError(
                f"{MULTIPROC_ENV} was set after prometheus_client was imported: "
                "set it before the process imports anything"
            )
        self.registry = CollectorRegistry(auto_describe=True)
        self.shared: list = []
        registry = self.registry
        self.requests = Counter(
            "api_requests_total",
            "HTTP requests by endpoint, method and status.",
            ["endpoint", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "api_request_duration_seconds",
            "Time spent answering a request, by endpoint, method and status.",
            ["endpoint", "method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.predictions = Counter(
            "api_predictions_total", "Predictions made, by stage.", ["stage"], registry=registry
        )
        self.predictions_by_stage = {stage: self.predictions.labels(stage) for stage in STAGES}
        self.flags = Counter(
            "api_prediction_flags_total",
            "Predictions made, by anomaly flag (one with two flags counts under both).",
            ["flag"],
            registry=registry,
        )
        self.predictions_by_flag = {flag: self.flags.labels(flag) for flag in FLAGS}
        self.published = Counter(
            "api_stream_published_total",
            "Scored-stream entries written to Redis.",
            registry=registry,
        )
        self.publish_failures = Counter(
            "api_stream_publish_failures_total",
            "Attempts to write scored-stream entries that failed (Redis unreachable or erroring).",
            registry=registry,
        )
        self.publish_dropped = Counter(
            "api_stream_dropped_total",
            "Scored-stream entries lost: retry buffer full, or rejected by Redis.",
            ["reason"],
            registry=registry,
        )
        self.publish_buffered = Gauge(
            "api_stream_buffered",
            "Scored-stream entries waiting to be written (the retry buffer).",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.workers_ready = Gauge(
            "api_workers_ready",
            "Server processes that have loaded and warmed the model and serve requests.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.events = Counter(
            "api_events_accepted_total",
            "Install events appended to the install-events stream.",
            registry=registry,
        )

    def add_shared(self, collector) -> None:
        """A collector of figures kept outside the process (the monitoring gauges in Redis):
        exposed as they are, never summed over processes."""
        self.shared.append(collector)
        self.registry.register(collector)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition format: summed over every worker process when under gunicorn."""
        directory = multiprocess_dir()
        if directory is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        for collector in self.shared:
            registry.register(collector)
        return generate_latest(registry), CONTENT_TYPE_LATEST
