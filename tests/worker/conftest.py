"""Fixtures for the worker tests: settings and a worker wired to fakeredis + SQLite + the fake
predictor (unit) or to the real Redis + Postgres + the committed model (integration)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from adapters.settings import Settings
from adapters.store import make_engine
from worker.wiring import build_worker

from support.paths import MODEL_DIR, ROOT


@pytest.fixture
def unit_settings(sqlite_url):
    return Settings(
        redis_url="redis://fake",
        database_url=sqlite_url,
        worker_batch_size=50,
        worker_block_ms=10,
        claim_idle_ms=0,
        max_deliveries=3,
        stream_maxlen=100000,
    )


@pytest.fixture
def make_unit_worker(unit_settings, fake_redis, fake_predictor):
    engines = []

    def make(consumer="w1", **overrides):
        settings = unit_settings.model_copy(update=overrides)
        engine = make_engine(settings.database_url)
        engines.append(engine)
        return build_worker(settings, fake_predictor, fake_redis, engine, consumer=consumer)

    yield make
    for engine in engines:
        engine.dispose()


# --- integration: the real Redis and Postgres, the real model ------------------------------
@pytest.fixture
def service_settings(redis_url, database_url):
    return Settings(
        model_dir=str(MODEL_DIR),
        redis_url=redis_url,
        database_url=database_url,
        worker_batch_size=100,
        worker_block_ms=100,
        claim_idle_ms=1000,
        max_deliveries=3,
        cache_ttl_seconds=3600,
    )


@pytest.fixture
def spawn(tmp_path):
    """Start `python -m worker ...` processes (`env`: extra environment variables); whatever is
    still running at the end is killed."""
    processes = []

    def start(settings: Settings, *args: str, env: dict | None = None) -> subprocess.Popen:
        extra, env = (
            env or {},
            {key: value for key, value in os.environ.items() if key.upper() not in ENV_NAMES},
        )
        env.update(settings_env(settings))
        env.update(extra)
        log = open(tmp_path / f"worker-{len(processes)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "worker", *args], env=env, cwd=ROOT, stdout=log, stderr=log
        )
        process.log_path = log.name
        log.close()
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


ENV_NAMES = {name.upper() for name in Settings.model_fields}


def settings_env(settings: Settings) -> dict[str, str]:
    return {
        name.upper(): str(value)
        for name, value in settings.model_dump().items()
        if value is not None
    }


@pytest.fixture
def cluster_settings(service_settings, redis_cluster):
    """`service_settings` on the local Redis Cluster, with two partitions per stream kind (rq
    stays on the single Redis)."""
    return service_settings.model_copy(
        update={
            "redis_url": redis_cluster.url,
            "redis_cluster": True,
            "rq_redis_url": service_settings.redis_url,
            "stream_partitions": 2,
        }
    )


@pytest.fixture(params=["single", "cluster"])
def backend(request, service_settings):
    """(client, settings) of the single Redis (one partition: today's key names) or of the
    local Redis Cluster (two partitions), for the tests that must hold on both."""
    if request.param == "single":
        return request.getfixturevalue("redis_client"), service_settings
    return request.getfixturevalue("redis_cluster_client"), request.getfixturevalue(
        "cluster_settings"
    )
