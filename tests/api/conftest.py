"""API fixtures: an app on fakeredis + a migrated SQLite database + the fake predictor (unit
tests), and a factory to build variants (API key, a Redis that goes down, real services)."""

from __future__ import annotations

import fakeredis
import pytest

from adapters.settings import Settings
from api.app import create_app

from support.api import API_KEY


@pytest.fixture
def redis_server():
    """A fake Redis server; set `.connected = False` to simulate Redis being down."""
    return fakeredis.FakeServer()


@pytest.fixture
def fake_client(redis_server):
    return fakeredis.FakeRedis(server=redis_server)


@pytest.fixture
def make_app(sqlite_url, fake_client, fake_predictor):
    """Build an app with settings overrides; the publisher is driven by hand (no thread)."""
    apps = []

    def build(predictor=None, redis=None, start_publisher=False, **overrides):
        overrides.setdefault("database_url", sqlite_url)
        app = create_app(
            Settings(**overrides),
            predictor=predictor or fake_predictor,
            redis=fake_client if redis is None else redis,
            start_publisher=start_publisher,
        )
        app.config["TESTING"] = True
        apps.append(app)
        return app

    yield build
    for app in apps:
        services = app.extensions["d7"]
        services.publisher.close(timeout=2)
        services.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def services(app):
    return app.extensions["d7"]


@pytest.fixture
def secured_client(make_app):
    return make_app(api_key=API_KEY).test_client()
