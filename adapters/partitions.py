"""Daily partitions of the `predictions` table on Postgres: created ahead, dropped past retention.

Partition `predictions_YYYYMMDD` holds the event times of one UTC day. `predictions_default`
takes any event time whose day has no partition (a day not created yet, or an event stamped far
in the past or future), so an insert never fails for want of a partition; creating a day moves
its rows out of the default partition. Each change runs in its own short transaction under an
advisory lock, so several workers may maintain the table at once. SQLite keeps a plain table:
there every function here does nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Connection, Engine, text

TABLE = "predictions"
DEFAULT_PARTITION = f"{TABLE}_default"
DAYS_AHEAD = 7
"""Days after today whose partitions exist in advance (a week of missed maintenance is safe)."""
LOCK_TIMEOUT = "5s"
"""How long a change waits for the table's locks before giving up until the next run."""
_ADVISORY_LOCK = f"{TABLE} partitions"
"""Serialises partition changes across processes (pg_advisory_xact_lock of its hash)."""
_DAY_NAME = re.compile(rf"^{TABLE}_(\d{{8}})$")


@dataclass
class Maintenance:
    """What one maintenance run changed."""

    created: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    expired_default_rows: int = 0


def partitioned(engine: Engine) -> bool:
    """True when `predictions` is a partitioned Postgres table."""
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as connection:
        return bool(
            connection.execute(
                text(
                    "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
                    " WHERE c.oid = to_regclass(:table)"
                ),
                {"table": TABLE},
            ).first()
        )


def partition_days(engine: Engine) -> list[date]:
    """The days that have a partition, in order."""
    with engine.connect() as connection:
        return _days(connection)


def _days(connection: Connection) -> list[date]:
    names = connection.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = to_regclass(:table)"
        ),
        {"table": TABLE},
    ).scalars()
    found = (_DAY_NAME.match(name) for name in names)
    return sorted(datetime.strptime(match[1], "%Y%m%d").date() for match in found if match)


def _start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _name(day: date) -> str:
    return f"{TABLE}_{day:%Y%m%d}"


def _locked(connection: Connection) -> None:
    connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
    connection.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": _ADVISORY_LOCK}
    )


def create_partitions(engine: Engine, first: date, last: date) -> list[str]:
    """Create the missing partitions of the days `first` to `last` (inclusive), moving any rows
    of those days out of the default partition; returns the names created."""
    if not partitioned(engine):
        return []
    created = []
    day = first
    while day <= last:
        with engine.begin() as connection:
            _locked(connection)
            if day not in _days(connection):
                _create(connection, day)
                created.append(_name(day))
        day += timedelta(days=1)
    return created


def _create(connection: Connection, day: date) -> None:
    """A table like the parent, filled with the day's rows of the default partition, then
    attached (ATTACH lets inserts go on, where CREATE ... PARTITION OF would block them)."""
    name, bounds = _name(day), {"start": _start(day), "end": _start(day + timedelta(days=1))}
    connection.execute(text(f"CREATE TABLE {name} (LIKE {TABLE} INCLUDING DEFAULTS)"))
    connection.execute(
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION}"
            " WHERE event_time >= :start AND event_time < :end RETURNING *)"
            f" INSERT INTO {name} SELECT * FROM moved"
        ),
        bounds,
    )
    start, end = (value.isoformat() for value in bounds.values())
    connection.execute(
        text(
            f"ALTER TABLE {TABLE} ATTACH PARTITION {name} FOR VALUES FROM ('{start}') TO ('{end}')"
        )
    )


def drop_expired(engine: Engine, retention_days: int, today: date | None = None) -> Maintenance:
    """Drop the partitions of days older than `retention_days` before `today` (UTC), and the
    default partition's rows of those days; a day at or after the cutoff is never touched."""
    done = Maintenance()
    if not partitioned(engine):
        return done
    cutoff = (today or datetime.now(UTC).date()) - timedelta(days=retention_days)
    for day in partition_days(engine):
        if day >= cutoff:
            break
        with engine.begin() as connection:
            _locked(connection)
            connection.execute(text(f"DROP TABLE IF EXISTS {_name(day)}"))
        done.dropped.append(_name(day))
    with engine.begin() as connection:
        _locked(connection)
        done.expired_default_rows = connection.execute(
            text(f"DELETE FROM {DEFAULT_PARTITION} WHERE event_time < :cutoff"),
            {"cutoff": _start(cutoff)},
        ).rowcount
    return done


def create_ahead(engine: Engine, today: date | None = None) -> list[str]:
    """Create the partitions of today and of the DAYS_AHEAD days after it that are missing."""
    today = today or datetime.now(UTC).date()
    return create_partitions(engine, today, today + timedelta(days=DAYS_AHEAD))


def maintain(engine: Engine, retention_days: int, today: date | None = None) -> Maintenance:
    """The scheduled job (`python -m worker partitions`, and the stream worker hourly): drop
    the days past `retention_days`, then create the days ahead."""
    done = drop_expired(engine, retention_days, today)
    done.created = create_ahead(engine, today)
    return done
