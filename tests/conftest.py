"""Shared fixtures: the machine's real Redis and Postgres (isolated per engineer and per test
session), fakeredis and SQLite for unit tests.

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

TEST_REDIS_DB = int(os.environ.get("TEST_REDIS_DB", "15"))
TEST_REDIS_URL = f"redis://127.0.0.1:6379/{TEST_REDIS_DB}"
TEST_DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)


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
def redis_client(redis_url):
    """A client of the real Redis on TEST_REDIS_DB, flushed before and after the test."""
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
def database_url(_migrated_schema_url, postgres_admin):
    """URL of a migrated schema of its own in database `test` (one per session, emptied
    before each test, dropped at the end)."""
    engine = sqlalchemy.create_engine(_migrated_schema_url)
    with engine.begin() as connection:
        connection.execute(
            sqlalchemy.text("TRUNCATE predictions, outcomes, outcome_matches RESTART IDENTITY")
        )
    engine.dispose()
    return _migrated_schema_url


@pytest.fixture
def empty_database_url(postgres_admin):
    """URL of a new, empty (never migrated) schema in database `test`, dropped after the test."""
    schema = _new_schema(postgres_admin)
    yield schema_url(TEST_DATABASE_URL, schema)
    _drop_schema(postgres_admin, schema)


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """URL of a migrated SQLite database in the test's temporary directory."""
    url = f"sqlite:///{tmp_path / 'predictions.db'}"
    upgrade_database(url)
    return url
