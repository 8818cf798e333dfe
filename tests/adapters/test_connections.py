"""Each role's clients wait and retry as its policy says (nothing connects to build them)."""

from __future__ import annotations

import pytest
from sqlalchemy.pool import NullPool

from adapters import connections
from adapters.settings import Settings

SETTINGS = Settings(
    redis_url="redis://127.0.0.1:1/0",
    database_url="postgresql+psycopg2://nobody@127.0.0.1:1/none",
    worker_block_ms=2500,
)


def connection_options(client) -> dict:
    return client.connection_pool.connection_kwargs


def test_the_request_path_fails_fast_without_retries():
    client = connections.redis_client(SETTINGS, connections.REQUEST)
    options = connection_options(client)
    assert (options["socket_connect_timeout"], options["socket_timeout"]) == (1.0, 1.0)
    assert options["retry"].get_retries() == 0
    assert client.connection is None  # pooled (the per-thread cache reads ask for their own)


def test_the_worker_outlasts_its_blocking_reads_and_retries_once():
    options = connection_options(connections.redis_client(SETTINGS, connections.WORKER))
    assert options["socket_timeout"] == pytest.approx(2.5 + 10.0)
    assert options["retry"].get_retries() == 1


def test_database_engines_follow_the_policy(monkeypatch):
    built = {}

    def make_engine(url, statement_timeout_ms=None, **options):
        built[len(built)] = (statement_timeout_ms, options)

    monkeypatch.setattr(connections, "make_engine", make_engine)
    for policy in (connections.REQUEST, connections.WORKER, connections.JOBS):
        connections.database_engine(SETTINGS, policy)
    request, worker, jobs = built.values()
    assert request == (None, {"pool_pre_ping": True, "connect_args": {"connect_timeout": 2}})
    assert worker == (
        SETTINGS.worker_statement_timeout_ms,
        {"pool_pre_ping": False, "connect_args": {"connect_timeout": 5}, "pool_size": 2},
    )
    assert jobs[1]["poolclass"] is NullPool and jobs[0] is None
