"""The one place that builds clients of the outside systems, and how each waits and retries.

Every role (the API's request path, its publisher, the stream worker, the rq worker, the command
lines) has one `Policy`: its timeouts and its retries, named once below. `redis_client`,
`rq_connection` and `database_engine` build clients from `Settings` and a policy; nothing
connects until a client is first used. REDIS_CLUSTER=true makes `redis_client` a redis-py
`RedisCluster` (it finds every node from the one of REDIS_URL); rq keeps a plain Redis of its
own, RQ_REDIS_URL (default: REDIS_URL), since rq does not support Cluster.

Retries above the client level (a batch retried after an outage, the publisher's resends, a
command waiting for a server that starts) use tenacity with the waits named here.

MLflow is not here: `adapters.registry.mlflow_client` builds its client, with its HTTP retry
policy (`registry.HTTP_RETRIES`), because MLflow reads that policy from the environment.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.retry import Retry
from sqlalchemy import Engine
from sqlalchemy.pool import NullPool
from tenacity import wait_exponential, wait_fixed

from adapters.settings import Settings
from adapters.store import make_engine


@dataclass(frozen=True)
class Policy:
    """How the clients of one role wait for, and retry, Redis and the database."""

    redis_connect_timeout: float
    redis_read_timeout: float | None
    """Seconds a reply may take; None leaves it to the caller (rq sets its own). With
    `blocking_reads`, the margin added to WORKER_BLOCK_MS."""
    redis_retries: int
    """redis-py's retries of a command after a dropped connection (0: fail at once)."""
    database_connect_timeout: int = 5
    database_pre_ping: bool = True
    """Test a pooled connection before use (one round trip), so one dropped by a restart is
    replaced rather than failing its statement."""
    database_pool_size: int | None = None
    """None: SQLAlchemy's default pool; 0: no pool (a connection per use)."""
    blocking_reads: bool = False
    statement_timeout: bool = False
    """Apply WORKER_STATEMENT_TIMEOUT_MS to every statement."""


REQUEST = Policy(redis_connect_timeout=1.0, redis_read_timeout=1.0, redis_retries=0,
                 database_connect_timeout=2)  # fmt: skip
"""The API's request path: fail fast (Redis or Postgres down must not hang a request)."""
PUBLISHER = Policy(redis_connect_timeout=5.0, redis_read_timeout=5.0, redis_retries=0)
"""The API's scored-stream publisher, off the request path: it keeps what it could not send
and retries on its own clock (PUBLISH_WAIT)."""
WORKER = Policy(
    redis_connect_timeout=3.0,
    redis_read_timeout=10.0,
    redis_retries=1,
    database_pre_ping=False,
    database_pool_size=2,
    blocking_reads=True,
    statement_timeout=True,
)
"""The stream worker: reads block for WORKER_BLOCK_MS (the read timeout outlasts it by 10 s);
one quick redis-py retry covers a dropped connection, OUTAGE_WAIT the rest. Two database
connections (one per thread) and no pre-ping: a ping is a round trip per batch; a dropped
connection fails its statement instead, SQLAlchemy replaces the pool's connections and the
batch is retried. A statement stuck behind a lock fails after WORKER_STATEMENT_TIMEOUT_MS, so
a stop request is never held up by it for longer."""
JOBS = Policy(redis_connect_timeout=3.0, redis_read_timeout=None, redis_retries=1,
              database_pool_size=0)  # fmt: skip
"""The rq worker and its jobs: rq raises the read timeout above its blocking dequeue; each job
(a forked process) opens its own database connections and closes them when done."""
COMMAND = Policy(redis_connect_timeout=3.0, redis_read_timeout=10.0, redis_retries=1,
                 database_pool_size=0)  # fmt: skip
"""Command lines, health checks and migrations: short-lived, bounded waits."""

OUTAGE_WAIT = wait_exponential(multiplier=0.1, max=2.0)
"""Stream worker: pause before retrying a batch after Redis or Postgres went away (0.1 s,
doubling, at most 2 s)."""
PUBLISH_WAIT = wait_exponential(multiplier=0.05, max=2.0)
"""API publisher: pause between sends while Redis is unreachable (0.05 s, doubling, 2 s)."""
STARTUP_WAIT = wait_fixed(1.0)
"""Command lines: pause between attempts to reach a server that is starting."""


def redis_client(
    settings: Settings, policy: Policy, *, single_connection: bool = False
) -> redis.Redis | redis.RedisCluster:
    """A Redis client of REDIS_URL that waits and retries as `policy` says: a `RedisCluster`
    with REDIS_CLUSTER, else a plain client.

    `single_connection`: the client holds one connection of its own (for a per-thread client);
    a cluster client has a pool per node instead and is shared by threads.
    """
    options = _redis_options(settings, policy)
    if settings.redis_cluster:
        if single_connection:
            raise ValueError("a Redis Cluster client cannot hold a single connection")
        return redis.RedisCluster.from_url(settings.redis_url, **options)
    return redis.Redis.from_url(
        settings.redis_url,
        health_check_interval=30,
        single_connection_client=single_connection,
        **options,
    )


def _redis_options(settings: Settings, policy: Policy) -> dict:
    read_timeout = policy.redis_read_timeout
    if policy.blocking_reads and read_timeout is not None:
        read_timeout += settings.worker_block_ms / 1000
    if policy.redis_retries:
        retry = Retry(ExponentialBackoff(cap=0.2, base=0.02), policy.redis_retries)
    else:
        retry = Retry(NoBackoff(), 0)
    return {
        "socket_connect_timeout": policy.redis_connect_timeout,
        "socket_timeout": read_timeout,
        "retry": retry,
    }


def rq_connection(settings: Settings, policy: Policy) -> redis.Redis:
    """The plain Redis that holds rq's queues: RQ_REDIS_URL, else REDIS_URL (a client without
    `decode_responses`, as rq needs)."""
    url = settings.rq_redis_url or settings.redis_url
    return redis.Redis.from_url(url, health_check_interval=30, **_redis_options(settings, policy))


def database_engine(settings: Settings, policy: Policy) -> Engine:
    """An engine of DATABASE_URL that waits as `policy` says."""
    return engine_for_url(
        settings.database_url,
        policy,
        settings.worker_statement_timeout_ms if policy.statement_timeout else None,
    )


def engine_for_url(url: str, policy: Policy, statement_timeout_ms: int | None = None) -> Engine:
    """`database_engine` for a URL given directly (migrations, smoke checks)."""
    options: dict = {"pool_pre_ping": policy.database_pre_ping}
    if url.startswith("postgresql"):
        options["connect_args"] = {"connect_timeout": policy.database_connect_timeout}
    if policy.database_pool_size == 0:
        options["poolclass"] = NullPool
    elif policy.database_pool_size is not None:
        options["pool_size"] = policy.database_pool_size
    return make_engine(url, statement_timeout_ms=statement_timeout_ms, **options)
