"""rq batch scoring jobs: enqueue a list of install records and read a job's status.

The API calls these (`POST /batch-jobs`, `GET /batch-jobs/<id>`); `worker.jobs.score_records`
runs the job in `python -m worker rq`. The job function is named by its import path, so the
API does not import the worker. rq needs a Redis client without `decode_responses`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job

JOB_FUNCTION = "worker.jobs.score_records"
"""Import path of the function that runs a batch job."""
CHUNK_SIZE = 2000
"""Records scored, persisted and cached per step; progress is reported after each one."""
RETRY_INTERVALS = (10, 60)
"""Seconds before each retry of a failed job; after the last one it stays in the failed registry."""
JOB_TIMEOUT = 3600
RESULT_TTL = 7 * 24 * 3600
"""How long finished and failed jobs (and their status) are kept."""


def batch_queue(redis, name: str = "batch-scoring") -> Queue:
    """The rq queue of batch scoring jobs (RQ_QUEUE)."""
    return Queue(name, connection=redis)


def enqueue_batch_job(
    queue: Queue,
    records: Sequence[Mapping[str, Any]],
    *,
    job_id: str | None = None,
    chunk_size: int = CHUNK_SIZE,
    retry_intervals: Sequence[int] = RETRY_INTERVALS,
    description: str | None = None,
) -> str:
    """Enqueue a job scoring `records`; returns the job id.

    Each record maps record columns to values (validated again by the job; invalid ones are
    counted, not fatal) and may carry an `event_id`; otherwise row i gets `<job id>:<i>`, so a
    retried job never writes a row twice. A record's event time is its `sent_at` if it has one,
    else the time of this call (kept in the job, so a retry stamps the same time). Size limits
    are the caller's (BATCH_JOB_MAX_RECORDS).
    """
    records = [dict(record) for record in records]
    job = queue.enqueue_call(
        JOB_FUNCTION,
        args=(records,),
        kwargs={"chunk_size": chunk_size, "enqueued_at": datetime.now(UTC).isoformat()},
        job_id=job_id,
        timeout=JOB_TIMEOUT,
        result_ttl=RESULT_TTL,
        failure_ttl=RESULT_TTL,
        description=description or f"score {len(records)} install records",
        meta={"progress": {"done": 0, "total": len(records)}},
        retry=Retry(max=len(retry_intervals), interval=list(retry_intervals))
        if retry_intervals
        else None,
    )
    return job.id


def exception_summary(traceback_text: str, limit: int = 1000) -> str:
    """The exception lines that end a formatted traceback (type and message, not the frames)."""
    lines = traceback_text.rstrip().splitlines()
    last_frame = max((i for i, line in enumerate(lines) if line.startswith("  ")), default=-1)
    summary = "\n".join(lines[last_frame + 1 :]).strip()
    return (summary or "failed")[:limit]


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def batch_job_status(queue: Queue, job_id: str) -> dict[str, Any] | None:
    """Status of a batch job, or None when no such job exists (or it expired).

    Returns {"id", "status" (queued | scheduled | started | finished | failed | ...),
    "progress": {"done", "total"}, "counts": {"records", "invalid", "scored", "inserted",
    "cached"}, "invalid_examples": [{"index", "error"}] (at most 20), "error" (the exception type and
    message when failed, else None), "retries_left", "enqueued_at", "started_at", "ended_at"}.
    """
    try:
        job = Job.fetch(job_id, connection=queue.connection)
    except NoSuchJobError:
        return None
    status = job.get_status(refresh=False)
    status = getattr(status, "value", status)
    meta = job.get_meta(refresh=False)
    error = None
    if status == "failed":
        result = job.latest_result()
        text = (result.exc_string if result is not None else None) or job.exc_info or ""
        error = exception_summary(text)
    return {
        "id": job.id,
        "status": status,
        "progress": meta.get("progress", {"done": 0, "total": 0}),
        "counts": meta.get("counts", {}),
        "invalid_examples": meta.get("invalid_examples", []),
        "error": error,
        "retries_left": job.retries_left,
        "enqueued_at": _iso(job.enqueued_at),
        "started_at": _iso(job.started_at),
        "ended_at": _iso(job.ended_at),
    }
