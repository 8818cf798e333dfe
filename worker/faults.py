"""Which errors mean "a server is away, retry later" rather than "this input is bad"; and the
fault injection the fault tests use to kill a worker at an exact point."""

from __future__ import annotations

import itertools
import os
import signal
from collections.abc import Callable

import redis.exceptions
import sqlalchemy.exc

KILL_AFTER_COMMITS_ENV = "WORKER_TEST_KILL_AFTER_COMMITS"
"""Fault tests only: `python -m worker run` SIGKILLs itself right after its N-th database
commit, before that batch is cached and acknowledged."""

_TRANSIENT = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ClusterError,  # a cluster failing over (CLUSTERDOWN, slots moving)
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.TimeoutError,
    ConnectionError,
)
_TRANSIENT_REDIS_REPLIES = (
    "NOGROUP", "LOADING", "READONLY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN",
)  # fmt: skip


def is_transient(error: BaseException) -> bool:
    """True for lost or refused connections and for servers restarting (including a Redis that
    came back empty, without the consumer group): the whole batch is retried after a pause."""
    if isinstance(error, sqlalchemy.exc.OperationalError) and "no such table" in str(error):
        return False  # SQLite not migrated: retrying will not help
    if isinstance(error, _TRANSIENT):
        return True
    if isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated:
        return True
    return isinstance(error, redis.exceptions.ResponseError) and str(error).startswith(
        _TRANSIENT_REDIS_REPLIES
    )


def kill_after_commits(count: int) -> Callable[[], None]:
    """An `after_commit` hook that SIGKILLs this process at its `count`-th call."""
    commits = itertools.count(1)

    def after_commit() -> None:
        if next(commits) >= count:
            os.kill(os.getpid(), signal.SIGKILL)

    return after_commit
