"""Fixtures for the worker tests: a fake Predictor for unit tests, settings and a worker wired
to fakeredis + SQLite (unit) or to the real Redis + Postgres (integration)."""

from __future__ import annotations

import pytest
from worker_fakes import FakePredictor

from adapters.settings import Settings
from adapters.store import make_engine
from worker.wiring import build_worker


@pytest.fixture
def fake_predictor():
    return FakePredictor()


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
