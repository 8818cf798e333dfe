"""The embedded Redis of `make run` (fakeredis's TCP server) runs the real stream worker and the
real rq worker: streams, consumer groups, pipelines, blocking reads and rq's Lua scripts."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
import redis
import sqlalchemy

from adapters.cache import PredictionCache
from adapters.connections import WORKER, redis_client
from adapters.jobs import batch_job_status, batch_queue, enqueue_batch_job
from adapters.settings import Settings
from adapters.stream import EventStream, encode_install_event
from ops.embedded import EmbeddedRedis
from scorer.synth import synthetic_records
from worker.wiring import build_worker

from support.paths import MODEL_DIR, ROOT


@pytest.fixture
def server():
    with EmbeddedRedis() as embedded:
        yield embedded


@pytest.fixture
def settings(server, sqlite_url):
    return Settings(
        model_dir=str(MODEL_DIR),
        redis_url=server.url,
        database_url=sqlite_url,
        worker_batch_size=64,
        worker_block_ms=100,
    )


def installs(count: int, seed: int) -> list[dict]:
    frame = synthetic_records(count, seed=seed, with_revenue=False)
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [{**record, "user_id": f"u{seed}-{i}"} for i, record in enumerate(records)]


def rows(database_url: str) -> list[dict]:
    engine = sqlalchemy.create_engine(database_url)
    with engine.connect() as connection:
        found = connection.execute(sqlalchemy.text("SELECT * FROM predictions")).mappings().all()
    engine.dispose()
    return [dict(row) for row in found]


def test_the_stream_worker_scores_persists_caches_and_acknowledges(settings):
    from scorer.predictor import Predictor

    client = redis_client(settings, WORKER)
    records = installs(300, seed=4)
    stream = EventStream(client, settings.installs_stream, settings.stream_maxlen)
    sent = datetime(2025, 1, 1, tzinfo=UTC)
    stream.append_many(
        encode_install_event(r, event_id=f"e{i}", sent_at=sent) for i, r in enumerate(records)
    )
    stream.append(encode_install_event(records[0], event_id="e0", sent_at=sent))  # a resend

    worker = build_worker(settings, Predictor.load(MODEL_DIR), client, consumer="embedded-1")
    totals = worker.run(until_empty=True)

    assert (totals.entries, totals.inserted, totals.acked) == (301, 300, 301)
    assert sorted(row["event_id"] for row in rows(settings.database_url)) == sorted(
        f"e{i}" for i in range(300)
    )
    cache = PredictionCache(client, settings.cache_prefix)
    assert all(cache.get(record["user_id"]) is not None for record in records)
    group = client.xinfo_groups(settings.installs_stream)[0]
    assert (group["pending"], group["lag"]) == (0, 0)


@pytest.mark.slow  # an rq worker process on the embedded Redis
def test_the_rq_worker_runs_a_batch_job(settings, tmp_path):
    client = redis.Redis.from_url(settings.redis_url)
    queue = batch_queue(client, settings.rq_queue)
    job_id = enqueue_batch_job(queue, installs(50, seed=5), chunk_size=20)
    env = {key: value for key, value in os.environ.items() if key != "MODEL_URI"}
    env.update(
        REDIS_URL=settings.redis_url, DATABASE_URL=settings.database_url, MODEL_DIR=str(MODEL_DIR)
    )
    done = subprocess.run(
        [sys.executable, "-m", "worker", "rq", "--burst"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    status = batch_job_status(queue, job_id)
    assert status["status"] == "finished", status
    assert status["counts"]["inserted"] == 50
    assert {row["source"] for row in rows(settings.database_url)} == {"batch"}
