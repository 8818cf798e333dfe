"""The `outcomes` stream and table: users' actual D7 revenue.

An outcomes-stream entry is flat text, one field per `scorer.outcome.INPUT_FIELDS` (empty =
unknown), like an install event. The table holds one row per user (`OutcomeStore.write`: the
same outcome twice is one row, a different one replaces it and sets `corrected_at`); every write
also matches its outcomes with their predictions (`adapters.matches`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any, NamedTuple, get_args

from pydantic import ValidationError
from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Double,
    Engine,
    Index,
    Table,
    Text,
    func,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from adapters.matches import match_outcomes
from adapters.orm import metadata
from adapters.stream import StreamDecodeError, text_fields, to_field
from scorer.outcome import INPUT_FIELDS, KEY, OutcomeRecord

_COLUMN_TYPES = {str: Text, float: Double, date: Date}


def _input_column(name: str) -> Column:
    info = OutcomeRecord.model_fields[name]
    kinds = [
        kind for kind in (info.annotation, *get_args(info.annotation)) if kind in _COLUMN_TYPES
    ]
    return Column(
        name, _COLUMN_TYPES[kinds[0]], primary_key=name == KEY, nullable=not info.is_required()
    )


outcomes = Table(
    "outcomes",
    metadata,
    *[_input_column(name) for name in INPUT_FIELDS],
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("corrected_at", DateTime(timezone=True), nullable=True),
)
Index("ix_outcomes_install_date", outcomes.c.install_date)

# --- the stream ------------------------------------------------------------------------------


def encode_outcome(outcome: Mapping[str, Any]) -> dict[str, str]:
    """Stream fields of one outcome (a dumped OutcomeRecord or a CSV row); other keys ignored."""
    return {name: to_field(outcome.get(name)) for name in INPUT_FIELDS}


def decode_outcome(fields: Mapping | None) -> dict[str, Any]:
    """The validated outcome of a stream entry; raises StreamDecodeError naming the field."""
    text = text_fields(fields)
    try:
        record = OutcomeRecord(**{name: text.get(name) or None for name in INPUT_FIELDS})
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
            for problem in error.errors(include_url=False)
        )
        raise StreamDecodeError(problems) from None
    return record.model_dump()


# --- the table -------------------------------------------------------------------------------

_INSERTS = {"postgresql": postgres_insert, "sqlite": sqlite_insert}


class Written(NamedTuple):
    new: int
    corrected: int


class OutcomeStore:
    """Idempotent writes of outcomes, keyed by user."""

    def __init__(self, engine: Engine):
        self.engine = engine
        insert = _INSERTS[engine.dialect.name]
        statement = insert(outcomes)
        changed = or_(
            *[
                outcomes.c[name].is_distinct_from(statement.excluded[name])
                for name in INPUT_FIELDS
                if name != KEY
            ]
        )
        self._upsert = statement.on_conflict_do_update(
            index_elements=[outcomes.c[KEY]],
            set_={
                **{name: statement.excluded[name] for name in INPUT_FIELDS if name != KEY},
                "corrected_at": statement.excluded.received_at,
            },
            where=changed,
        ).returning(outcomes.c[KEY], outcomes.c.corrected_at)

    def write(self, rows: Iterable[Mapping[str, Any]], now: datetime | None = None) -> Written:
        """Insert new users' outcomes and replace changed ones, then (re)match them with their
        predictions (`adapters.matches`), in one transaction; within `rows` the last outcome of
        a user wins (stream order). Unchanged ones are left as they are."""
        now = now or datetime.now(UTC)
        latest = {row[KEY]: row for row in rows}
        values = [{name: row.get(name) for name in INPUT_FIELDS} | {"received_at": now}
                  for row in latest.values()]  # fmt: skip
        if not values:
            return Written(0, 0)
        with self.engine.begin() as connection:
            changed = connection.execute(self._upsert, values).all()
            stored = connection.execute(select(outcomes).where(outcomes.c[KEY].in_(list(latest))))
            match_outcomes(connection, list(stored.mappings()))
        corrected = sum(1 for _, corrected_at in changed if corrected_at is not None)
        return Written(len(changed) - corrected, corrected)

    def get(self, user_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as connection:
            found = (
                connection.execute(select(outcomes).where(outcomes.c[KEY] == user_id))
                .mappings()
                .first()
            )
        return None if found is None else dict(found)

    def count(self) -> int:
        with self.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(outcomes)).scalar_one()

    def check(self) -> None:
        """Raise unless the outcomes table exists (the database is migrated)."""
        with self.engine.connect() as connection:
            connection.execute(select(outcomes.c[KEY]).limit(0)).all()
