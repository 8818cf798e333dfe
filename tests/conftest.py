"""Shared fixtures: the machine's real Redis and Postgres (isolated per engineer and per test
session), a local Redis Cluster, fakeredis and SQLite for unit tests, the committed model and its
fake.

Every test is in exactly one tier (unit, integration or slow), given at collection from its
marks and fixtures (support.tiers).
Integration tests skip with the reason when a server is unreachable; with REQUIRE_SERVICES=1
(set by CI) an unreachable server fails them instead.
"""

from __future__ import annotations

import os
import uuid

import fakeredis
import pytest
import redis
import sqlalchemy
from sqlalchemy.engine import make_url

from adapters.migrations import upgrade_database
from scorer.predictor import Predictor

from support.fakes import FakePredictor
from support.local_cluster import LocalRedisCluster
from support.paths import MODEL_DIR
from support.tiers import mark_tiers, require_integration_tier

TEST_REDIS_DB = int(os.environ.get("TEST_REDIS_DB", "15"))
TEST_REDIS_URL = f"redis://127.0.0.1:6379/{TEST_REDIS_DB}"
TEST_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by the markers added here
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_tiers(items)


def service_unavailable(what: str, error: Exception) -> None:
    """Skip (or fail, under REQUIRE_SERVICES=1) a test whose server cannot be reached."""
    message = f"{what} unreachable: {error}"
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} (REQUIRE_SERVICES=1 requires it)", pytrace=False)
    pytest.skip(message)


def schema_url(base_url: str, schema: str) -> str:
    """`base_url` with the Postgres search_path set to `schema` through connect options."""
    url = make_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the test db of the real Redis (TEST_REDIS_DB); skips when Redis is down."""
    client = redis.Redis.from_url(TEST_REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        service_unavailable(f"Redis at {TEST_REDIS_URL}", error)
    finally:
        client.close()
    return TEST_REDIS_URL


@pytest.fixture
def redis_client(request, redis_url):
    """A client of the real Redis on TEST_REDIS_DB, flushed before and after the test."""
    require_integration_tier(request, "the real Redis")
    client = redis.Redis.from_url(redis_url, socket_timeout=10)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def fake_redis():
    return fakeredis.FakeRedis()


@pytest.fixture(scope="session")
def postgres_admin():
    """An engine on the `test` database, for creating and dropping test schemas."""
    engine = sqlalchemy.create_engine(
        TEST_DATABASE_URL, connect_args={"connect_timeout": 3}, isolation_level="AUTOCOMMIT"
    )
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text("SELECT 1"))
    except sqlalchemy.exc.OperationalError as error:
        engine.dispose()
        service_unavailable(f"Postgres at {make_url(TEST_DATABASE_URL)!r}", error.orig)
    yield engine
    engine.dispose()


def _new_schema(admin) -> str:
    schema = f"test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    return schema


def _drop_schema(admin, schema: str) -> None:
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture(scope="session")
def _migrated_schema_url(postgres_admin):
    schema = _new_schema(postgres_admin)
    url = schema_url(TEST_DATABASE_URL, schema)
    try:
        upgrade_database(url)
        yield url
    finally:
        _drop_schema(postgres_admin, schema)


@pytest.fixture
def database_url(request, _migrated_schema_url, postgres_admin):
    """URL of a migrated schema of its own in database `test` (one per session, emptied
    before each test, dropped at the end)."""
    require_integration_tier(request, "the real Postgres")
    engine = sqlalchemy.create_engine(_migrated_schema_url)
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text("TRUNCATE predictions, outcomes, outcome_matches RESTART IDENTITY")
        )
    engine.dispose()
    return _migrated_schema_url


@pytest.fixture
def empty_database_url(request, postgres_admin):
    """URL of a new, empty (never migrated) schema in database `test`, dropped after the test."""
    require_integration_tier(request, "the real Postgres")
    schema = _new_schema(postgres_admin)
    yield schema_url(TEST_DATABASE_URL, schema)
    _drop_schema(postgres_admin, schema)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """URL of a migrated SQLite database in the test's temporary directory."""
    url = f"sqlite:///{tmp_path / 'predictions.db'}"
    upgrade_database(url)
    return url


@pytest.fixture(scope="session")
def predictor():
    """The committed model bundle (models/d7), loaded once per session."""
    return Predictor.load(MODEL_DIR)


@pytest.fixture
def fake_predictor():
    """The unit tests' stand-in for the model (support.fakes), fresh for each test."""
    return FakePredictor()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    """A local Redis Cluster (3 masters, 3 replicas) for the session; skips (or fails, under
    REQUIRE_SERVICES=1) when redis-server or redis-cli is missing."""
    try:
        cluster = LocalRedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    except FileNotFoundError as error:
        service_unavailable("a local Redis Cluster", error)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def redis_cluster_client(request, redis_cluster):
    """A cluster client of the local Redis Cluster, every master flushed before and after."""
    require_integration_tier(request, "the local Redis Cluster")
    redis_cluster.wait_ready()
    client = redis.RedisCluster.from_url(redis_cluster.url, socket_timeout=10)
    client.flushall()
    yield client
    client.flushall()
    client.close()
