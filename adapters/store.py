"""PredictionStore: the `predictions` table through SQLAlchemy 2 (Postgres, or SQLite).

Saving is one bulk multi-row INSERT per call, idempotent on `event_id`, so a redelivered stream
entry or a retried job never makes a second row. On Postgres the VALUES list is rendered by the
driver (psycopg2 `mogrify`, as `execute_values` does) and the JSON by orjson: SQLAlchemy's
per-row parameter processing cost more CPU than the rest of the insert (bench/worker_stages.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
import psycopg2.extensions
from sqlalchemy import Connection, Engine, create_engine, event, func, select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from adapters.orm import ROW_COLUMNS, predictions

_INSERTS = {"postgresql": postgres_insert, "sqlite": sqlite_insert}


def make_engine(url: str, **options: Any) -> Engine:
    """An engine for `url` with pre-ping, so connections dropped by a restart are replaced, and
    (on Postgres) a 5 s connect timeout, so an unreachable server fails fast instead of hanging."""
    options.setdefault("pool_pre_ping", True)
    if url.startswith("postgresql+psycopg2"):
        options.setdefault("connect_args", {}).setdefault("connect_timeout", 5)
    engine = create_engine(url, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back naive; they were stored as UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _row(prediction: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    row = {name: prediction.get(name) for name in ROW_COLUMNS}
    row["created_at"] = _aware(row["created_at"]) or now
    if row["input"] is None:
        row["input"] = {}
    return row


def _found(found: Mapping[str, Any]) -> dict[str, Any]:
    row = dict(found)
    row["created_at"] = _aware(row["created_at"])
    row["scored_at"] = row["created_at"].isoformat()
    return row


_INPUT = ROW_COLUMNS.index("input")


def _json(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # e.g. an integer beyond 64 bits in a scored entry's input
        return json.dumps(value)


def _insert_postgres(connection: Connection, rows: list[dict[str, Any]]) -> list[str]:
    """One `INSERT ... VALUES (...), (...) ON CONFLICT (event_id) DO NOTHING RETURNING event_id`
    whose values psycopg2 quotes; executed through SQLAlchemy, so its errors, events and
    connection invalidation behave as for any other statement."""
    template = "(" + ",".join(["%s"] * len(ROW_COLUMNS)) + ")"
    cursor = connection.connection.cursor()  # only to quote values, client-side
    codec = psycopg2.extensions.encodings[cursor.connection.encoding]
    try:
        quoted = []
        for row in rows:
            values = [row[name] for name in ROW_COLUMNS]
            values[_INPUT] = _json(values[_INPUT])
            quoted.append(cursor.mogrify(template, values))
    finally:
        cursor.close()
    preparer = connection.dialect.identifier_preparer
    statement = (
        f"INSERT INTO {preparer.format_table(predictions)} "
        f"({', '.join(preparer.quote(name) for name in ROW_COLUMNS)}) "
        f"VALUES {b','.join(quoted).decode(codec)} "
        f"ON CONFLICT (event_id) DO NOTHING RETURNING event_id"
    )
    result = connection.exec_driver_sql(statement, execution_options={"no_parameters": True})
    return list(result.scalars())


class PredictionStore:
    """Bulk, idempotent writes of predictions and per-user lookups."""

    def __init__(self, engine: Engine):
        self.engine = engine
        if engine.dialect.name not in _INSERTS:
            raise ValueError(f"unsupported database dialect: {engine.dialect.name}")
        self._insert = _INSERTS[engine.dialect.name]

    def insert_statement(self):
        """INSERT ... ON CONFLICT (event_id) DO NOTHING RETURNING event_id, for executemany."""
        return (
            self._insert(predictions)
            .on_conflict_do_nothing(index_elements=[predictions.c.event_id])
            .returning(predictions.c.event_id)
        )

    def save_many(self, rows: Iterable[Mapping[str, Any]], connection=None) -> int:
        """Insert predictions whose event_id is new; returns how many rows were inserted.

        Each row holds the columns of `predictions` but `id` (created_at defaults to now). The
        whole call is one transaction; pass `connection` to join a transaction of your own.
        """
        return len(self.insert_new(rows, connection))

    def insert_new(self, rows: Iterable[Mapping[str, Any]], connection=None) -> list[str]:
        """Like `save_many`, but returns the event_ids that were inserted (the others existed)."""
        now = datetime.now(UTC)
        rows = [_row(row, now) for row in rows]
        if not rows:
            return []
        if connection is not None:
            return self._insert_rows(connection, rows)
        with self.engine.begin() as own:
            return self._insert_rows(own, rows)

    def _insert_rows(self, connection: Connection, rows: list[dict[str, Any]]) -> list[str]:
        if connection.dialect.name == "postgresql":
            return _insert_postgres(connection, rows)
        return list(connection.execute(self.insert_statement(), rows).scalars())

    def latest_for_user(self, user_id: str) -> dict[str, Any] | None:
        """The user's most recent prediction as a dict of its columns (created_at aware), with
        `scored_at` (ISO text of created_at) so it can go straight into the cache; else None."""
        query = (
            select(predictions)
            .where(predictions.c.user_id == user_id)
            .order_by(predictions.c.created_at.desc(), predictions.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as connection:
            found = connection.execute(query).mappings().first()
        return None if found is None else _found(found)

    def latest_for_users(self, user_ids: Iterable[str]) -> list[dict[str, Any]]:
        """`latest_for_user` for many users in one query (users without rows are left out)."""
        user_ids = sorted({user_id for user_id in user_ids if user_id})
        if not user_ids:
            return []
        rank = (
            func.row_number()
            .over(
                partition_by=predictions.c.user_id,
                order_by=(predictions.c.created_at.desc(), predictions.c.id.desc()),
            )
            .label("rank")
        )
        ranked = select(predictions, rank).where(predictions.c.user_id.in_(user_ids)).subquery()
        query = select(*[ranked.c[column.name] for column in predictions.columns]).where(
            ranked.c.rank == 1
        )
        with self.engine.connect() as connection:
            return [_found(found) for found in connection.execute(query).mappings()]

    def check(self) -> None:
        """Raise unless the database answers and the predictions table exists (migrated)."""
        with self.engine.connect() as connection:
            connection.execute(select(predictions.c.id).limit(0)).all()

    def count(self, **filters: Any) -> int:
        """Number of rows, optionally filtered by column equality (e.g. source="batch")."""
        query = select(func.count()).select_from(predictions)
        for name, value in filters.items():
            query = query.where(predictions.c[name] == value)
        with self.engine.connect() as connection:
            return connection.execute(query).scalar_one()
