"""The rq batch scoring job, and the rq worker that runs it (`python -m worker rq`).

A job scores its records in chunks with `predict_batch`, persists them (`source = batch`,
idempotent on event_id, so a retry never duplicates), fills the per-user cache and reports its
progress and counts in `job.meta`. An exception fails the job; rq retries it, then keeps it in
the failed-job registry with the error.
"""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from rq import Worker, get_current_job

from adapters import connections
from adapters.cache import PredictionCache
from adapters.heartbeat import Heartbeat
from adapters.jobs import CHUNK_SIZE, batch_queue
from adapters.model_source import load_predictor
from adapters.settings import Settings
from adapters.store import PredictionStore
from scorer.schema import InstallRecord
from worker.predictions import describe, parse_event_time, persist_and_cache, predict_events

log = logging.getLogger(__name__)

MAX_INVALID_EXAMPLES = 20
RQ_BEAT_SECONDS = 15
"""The rq worker beats at least this often: an idle one wakes from its blocking dequeue, a busy
one checks on its running job (rq's default waits are 405 s and 30 s)."""


@cache
def predictor_for(model_dir: str, model_uri: str | None = None, policy: str | None = None):
    """One Predictor per process, bundle and anomalous-country policy (MODEL_URI wins over
    MODEL_DIR when set); loaded by the rq parent before it forks jobs."""
    settings = Settings(model_dir=model_dir, model_uri=model_uri)
    if policy is not None:
        settings = settings.model_copy(update={"anomalous_country_policy": policy})
    return load_predictor(settings).predictor


def score_records(
    records: list[dict[str, Any]], chunk_size: int = CHUNK_SIZE, enqueued_at: str | None = None
) -> dict[str, int]:
    """Score, persist and cache `records`; returns the counts (also kept in job.meta).

    `enqueued_at` (ISO 8601) is the event time of the records without a `sent_at` of their
    own; a job enqueued without it uses its rq enqueue time."""
    job = get_current_job()
    job_time = parse_event_time("enqueued_at", enqueued_at or job.enqueued_at or job.created_at)
    settings = Settings()
    predictor = predictor_for(
        settings.model_dir, settings.model_uri, settings.anomalous_country_policy
    )
    cache_ = PredictionCache(
        connections.redis_client(settings, connections.JOBS),  # not rq's: RQ_REDIS_URL may differ
        settings.cache_prefix,
        settings.cache_ttl_seconds,
    )
    engine = connections.database_engine(settings, connections.JOBS)
    store = PredictionStore(engine)
    counts = {"records": len(records), "invalid": 0, "scored": 0, "inserted": 0, "cached": 0}
    invalid_examples: list[dict[str, Any]] = []
    try:
        for start in range(0, len(records), chunk_size):
            valid, event_ids, event_times = [], [], []
            for index, raw in enumerate(records[start : start + chunk_size], start):
                raw = dict(raw)
                event_id = raw.pop("event_id", None) or f"{job.id}:{index}"
                sent_at = raw.pop("sent_at", None)
                try:
                    moment = parse_event_time("sent_at", sent_at) if sent_at else job_time
                    valid.append(InstallRecord(**raw))
                except (ValueError, TypeError) as error:
                    counts["invalid"] += 1
                    if len(invalid_examples) < MAX_INVALID_EXAMPLES:
                        invalid_examples.append({"index": index, "error": describe(error)})
                    continue
                event_ids.append(str(event_id))
                event_times.append(moment)
            rows = predict_events(predictor, valid, event_ids, event_times, source="batch")
            persisted = persist_and_cache(store, cache_, rows)
            counts["scored"] += len(rows)
            counts["inserted"] += persisted.inserted
            counts["cached"] += persisted.cached
            done = min(start + chunk_size, len(records))
            job.meta.update(
                progress={"done": done, "total": len(records)},
                counts=counts,
                invalid_examples=invalid_examples,
            )
            job.save_meta()
    finally:
        engine.dispose()
    return counts


class HeartbeatWorker(Worker):
    """An rq worker that also touches a heartbeat file at each of rq's own heartbeats (after
    every dequeue, job and job check), waking every RQ_BEAT_SECONDS to do so."""

    def __init__(self, *args, heartbeat: Heartbeat | None = None, **kwargs):
        kwargs.setdefault("job_monitoring_interval", RQ_BEAT_SECONDS)
        super().__init__(*args, **kwargs)
        self.heartbeat_file = heartbeat

    @property
    def dequeue_timeout(self) -> int:
        return RQ_BEAT_SECONDS

    def heartbeat(self, *args, **kwargs) -> None:
        super().heartbeat(*args, **kwargs)
        if self.heartbeat_file is not None:
            self.heartbeat_file.beat()


def run_rq_worker(settings: Settings, burst: bool = False, max_jobs=None) -> bool:
    """Run an rq worker on RQ_QUEUE, with the model loaded before jobs are forked; it beats
    for `python -m ops health rq`."""
    predictor_for(settings.model_dir, settings.model_uri, settings.anomalous_country_policy)
    connection = connections.rq_connection(settings, connections.JOBS)
    worker = HeartbeatWorker(
        [batch_queue(connection, settings.rq_queue)],
        connection=connection,
        heartbeat=Heartbeat.of(settings, "rq"),
    )
    return worker.work(burst=burst, max_jobs=max_jobs, with_scheduler=True, logging_level="INFO")
