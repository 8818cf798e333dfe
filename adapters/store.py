"""PredictionStore: the `predictions` table through SQLAlchemy 2 (Postgres, or SQLite).

Saving is one bulk INSERT statement per call, idempotent on (event_id, event_time), so a
redelivered stream entry or a retried job never makes a second row. Lookups answer a user's
newest prediction by event time (ties: the greatest event_id), as the cache does. On Postgres the batch travels as one JSON
parameter (`jsonb_to_recordset`, serialised by orjson): binding ten values per row, by
SQLAlchemy or by the driver, cost more CPU than the rest of the worker's commit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import (
    Connection,
    Engine,
    Text,
    bindparam,
    cast,
    column,
    create_engine,
    event,
    func,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from adapters.orm import IDEMPOTENCY_KEY, ROW_COLUMNS, predictions
from scorer.prediction import DEFAULTS_TO, DEFAULTS_TO_NOW, EVENT_TIME, KEY, names_of

_INSERTS = {"postgresql": postgres_insert, "sqlite": sqlite_insert}


def make_engine(url: str, statement_timeout_ms: int | None = None, **options: Any) -> Engine:
    """An engine for `url` (pre-ping unless `options` say otherwise, so connections dropped by
    a restart are replaced); timeouts and pool sizes come from `adapters.connections`.

    `statement_timeout_ms` (Postgres): the server cancels a statement that runs, or waits for a
    lock, longer than that (an OperationalError); SQLite waits for a lock 5 s at most anyway.
    """
    options.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    elif statement_timeout_ms:
        event.listen(engine, "do_connect", _statement_timeout(statement_timeout_ms))
    return engine


def _statement_timeout(milliseconds: int):
    """A `do_connect` hook adding `-c statement_timeout=...` to libpq's startup options, after
    any the URL has (such as a search_path): no extra round trip per connection."""

    def add_option(_dialect, _record, _cargs, cparams) -> None:
        option = f"-c statement_timeout={int(milliseconds)}"
        cparams["options"] = f"{cparams.get('options', '')} {option}".strip()

    return add_option


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


_TIMES = names_of(datetime)
_JSON = names_of(dict)
_LISTS = names_of(list)
_FLOAT_COLUMNS = names_of(float)


def _row(prediction: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    row = {name: prediction.get(name) for name in ROW_COLUMNS}
    for name in _TIMES:
        row[name] = _aware(row[name]) or (now if name in DEFAULTS_TO_NOW else None)
    for name in _JSON:
        if row[name] is None:
            row[name] = {}
    for name in _LISTS:
        if row[name] is None:
            row[name] = []
    for name, source in DEFAULTS_TO.items():
        if row[name] is None:
            row[name] = row[source]
    return row


def _found(found: Mapping[str, Any]) -> dict[str, Any]:
    row = dict(found)
    for name in _TIMES:
        row[name] = _aware(row[name])
    return row


_NOT_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    raise TypeError(f"not serialisable to JSON: {type(value).__name__}")


def _rows_json(rows: list[dict[str, Any]]) -> str:
    """The rows as one JSON array for `jsonb_to_recordset`; non-finite floats become the text
    Postgres reads back as NaN / Infinity (JSON has no literal for them)."""
    for row in rows:
        for name in _FLOAT_COLUMNS:
            value = row[name]
            if isinstance(value, float) and not math.isfinite(value):
                row[name] = _NOT_FINITE[repr(value)]
    try:
        return orjson.dumps(rows, default=_json_default).decode()
    except TypeError:  # e.g. an integer beyond 64 bits in a scored entry's input
        return json.dumps(rows, default=_json_default)


def _recordset_insert():
    """`INSERT INTO predictions (...) SELECT ... FROM jsonb_to_recordset(:rows) ... ON CONFLICT
    (event_id, event_time) DO NOTHING RETURNING event_id`: the whole batch is one bound JSON text, so the
    driver quotes one string instead of ten values per row."""
    batch = (
        func.jsonb_to_recordset(cast(bindparam("rows", type_=Text), JSONB))
        .table_valued(*[column(name, predictions.c[name].type) for name in ROW_COLUMNS])
        .render_derived(name="batch", with_types=True)
    )
    return (
        postgres_insert(predictions)
        .from_select(list(ROW_COLUMNS), select(*[batch.c[name] for name in ROW_COLUMNS]))
        .on_conflict_do_nothing(index_elements=_CONFLICT)
        .returning(predictions.c[KEY])
    )


_CONFLICT = [predictions.c[name] for name in IDEMPOTENCY_KEY]


def _newest_first(postgres: bool) -> tuple:
    """A user's predictions, newest first: `scorer.prediction.recency`, descending. Event ids
    compare byte by byte, as in Python (SQLite's default; Postgres is told)."""
    event_id = predictions.c[KEY].collate("C") if postgres else predictions.c[KEY]
    return predictions.c[EVENT_TIME].desc(), event_id.desc()


class PredictionStore:
    """Bulk, idempotent writes of predictions and per-user lookups."""

    def __init__(self, engine: Engine):
        self.engine = engine
        if engine.dialect.name not in _INSERTS:
            raise ValueError(f"unsupported database dialect: {engine.dialect.name}")
        self._insert = _INSERTS[engine.dialect.name]
        self._postgres = engine.dialect.name == "postgresql"
        self._recordset_insert = _recordset_insert() if self._postgres else None
        self._newest_first = _newest_first(self._postgres)

    def insert_statement(self):
        """INSERT ... ON CONFLICT (event_id, event_time) DO NOTHING RETURNING event_id, for
        executemany."""
        return (
            self._insert(predictions)
            .on_conflict_do_nothing(index_elements=_CONFLICT)
            .returning(predictions.c[KEY])
        )

    def save_many(self, rows: Iterable[Mapping[str, Any]], connection=None) -> int:
        """Insert predictions whose (event_id, event_time) is new; returns how many rows were
        inserted.

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
        if self._postgres:
            # one statement is one transaction: in autocommit it costs one round trip, not
            # three (BEGIN, INSERT, COMMIT), and returns once the commit is durable
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as own:
                return self._insert_rows(own, rows)
        with self.engine.begin() as own:
            return self._insert_rows(own, rows)

    def _insert_rows(self, connection: Connection, rows: list[dict[str, Any]]) -> list[str]:
        if self._postgres:
            found = connection.execute(self._recordset_insert, {"rows": _rows_json(rows)})
        else:
            found = connection.execute(self.insert_statement(), rows)
        return list(found.scalars())

    def latest_for_user(self, user_id: str) -> dict[str, Any] | None:
        """The user's newest prediction (latest event time) as a dict of its columns (times
        aware, so it can go straight into the cache), else None."""
        query = (
            select(predictions)
            .where(predictions.c.user_id == user_id)
            .order_by(*self._newest_first)
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
                order_by=self._newest_first,
            )
            .label("rank")
        )
        ranked = select(predictions, rank).where(predictions.c.user_id.in_(user_ids)).subquery()
        query = select(*[ranked.c[column.name] for column in predictions.columns]).where(
            ranked.c.rank == 1
        )
        with self.engine.connect() as connection:
            return [_found(found) for found in connection.execute(query).mappings()]

    def recent_inputs(self, start: datetime, end: datetime, limit: int) -> list[dict[str, Any]]:
        """The inputs (record dicts) of the newest `limit` predictions made in [start, end): what
        input drift compares with the training distribution (ix_predictions_created_at)."""
        query = (
            select(predictions.c.input)
            .where(predictions.c.created_at >= start, predictions.c.created_at < end)
            .order_by(predictions.c.created_at.desc())
            .limit(limit)
        )
        with self.engine.connect() as connection:
            found = connection.execute(query).scalars().all()
        return [json.loads(value) if isinstance(value, str) else value for value in found]

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
