"""The `outcomes` stream and table: users' actual D7 revenue, and matching it with predictions.

An outcomes-stream entry is flat text, one field per `scorer.outcome.INPUT_FIELDS` (empty =
unknown), like an install event. The table holds one row per user (`OutcomeStore.write`: the
same outcome twice is one row, a different one replaces it and sets `corrected_at`).
`matched_rows` joins the outcomes of a window of install dates with each user's newest
prediction of each stage made before the outcome arrived, and adds the predictions still waiting
for theirs, in one lean fetch (COPY on Postgres).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple, get_args

import pandas as pd
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
    text,
)
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from adapters.orm import metadata, predictions
from adapters.stream import StreamDecodeError, text_fields, to_field
from scorer.monitoring import (
    AWAITING,
    MATCHED,
    NO_PREDICTION,
    OVERDUE,
    OVERDUE_AFTER_DAYS,
    PREDICTION_DIMENSIONS,
)
from scorer.outcome import ACTUAL, INPUT_FIELDS, KEY, OutcomeRecord
from scorer.schema import RECORD_COLUMNS

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
        """Insert new users' outcomes and replace changed ones, in one transaction; within
        `rows` the last outcome of a user wins (stream order). Unchanged ones are left alone."""
        now = now or datetime.now(UTC)
        latest = {row[KEY]: row for row in rows}
        values = [{name: row.get(name) for name in INPUT_FIELDS} | {"received_at": now}
                  for row in latest.values()]  # fmt: skip
        if not values:
            return Written(0, 0)
        with self.engine.begin() as connection:
            changed = connection.execute(self._upsert, values).all()
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


# --- matching --------------------------------------------------------------------------------

PREDICTION_COLUMNS = tuple(
    column.name for column in predictions.columns if column.name not in ("id", "input", "user_id")
)
"""Every prediction column the matched rows carry (a column added to `predictions` comes along
on its own); one named like a record column gets a `prediction_` prefix (`prediction_source`:
api, stream or batch, while `source` is the acquisition source)."""
MATCHED_NAMES = {
    name: f"prediction_{name}" if name in RECORD_COLUMNS else name for name in PREDICTION_COLUMNS
}
ESSENTIAL = ("stage", "predicted_revenue", "lower", "upper")
"""Prediction columns a report cannot do without: always fetched."""


class _Dialect(NamedTuple):
    date_of: str  # SQL of the UTC date of a timestamp column, {} being the column
    starts: str  # SQL of the first instant of a date parameter, {} being the parameter
    dimension: str  # SQL of a record column of the prediction's input, {} being its name


_DIALECTS = {
    "postgresql": _Dialect(
        "CAST(({} AT TIME ZONE 'UTC') AS date)",
        "(CAST(:{} AS timestamp) AT TIME ZONE 'UTC')",
        "p.input->>'{}'",
    ),
    "sqlite": _Dialect("date({})", ":{}", "json_extract(p.input, '$.{}')"),
}


def _matching_sql(dialect: _Dialect, chosen: Sequence[str], dimensions: Sequence[str]) -> str:
    """Outcomes of the window with the newest prediction of each stage made before them, then
    predictions of the window still without an outcome (overdue or awaiting)."""
    picked = [f"p.{name} AS {MATCHED_NAMES[name]}" for name in chosen]
    picked += [f"{dialect.dimension.format(name)} AS {name}" for name in dimensions]
    names = [MATCHED_NAMES[name] for name in chosen] + list(dimensions)
    listed = ", ".join(names)
    newest = (
        "row_number() OVER (PARTITION BY p.user_id, p.stage ORDER BY p.created_at DESC, p.id DESC)"
    )
    made_on = dialect.date_of.format("p.created_at")
    return f"""
WITH users AS (
  SELECT user_id, {ACTUAL}, install_date, received_at FROM outcomes
  WHERE (install_date >= :since AND install_date <= :until) OR install_date IS NULL
), ranked AS (
  SELECT p.user_id, {made_on} AS made_on, {", ".join(picked)}, {newest} AS rank
  FROM predictions p JOIN users u ON u.user_id = p.user_id
  WHERE p.created_at <= u.received_at
), with_outcome AS (
  SELECT u.user_id,
         COALESCE(CAST(u.install_date AS TEXT), CAST(r.made_on AS TEXT),
                  CAST({dialect.date_of.format("u.received_at")} AS TEXT)) AS install_date,
         u.{ACTUAL}, {", ".join(f"r.{name}" for name in names)},
         CASE WHEN r.user_id IS NULL THEN '{NO_PREDICTION}' ELSE '{MATCHED}' END AS status
  FROM users u LEFT JOIN ranked r ON r.user_id = u.user_id AND r.rank = 1
), waiting AS (
  SELECT p.user_id, CAST({made_on} AS TEXT) AS install_date, {", ".join(picked)}, {newest} AS rank
  FROM predictions p
  WHERE p.created_at >= {dialect.starts.format("since")}
    AND p.created_at < {dialect.starts.format("after")}
    AND p.user_id IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.user_id = p.user_id)
)
SELECT user_id, install_date, {ACTUAL}, {listed}, status FROM with_outcome
WHERE install_date >= :since AND install_date <= :until
UNION ALL
SELECT user_id, install_date, NULL, {listed},
       CASE WHEN install_date < :overdue_before THEN '{OVERDUE}' ELSE '{AWAITING}' END
FROM waiting WHERE rank = 1
"""


def _copy_frame(engine: Engine, statement: str, parameters: dict[str, Any]) -> pd.DataFrame:
    """Run `statement` through COPY ... TO STDOUT (CSV) and parse it with pandas: several times
    cheaper than building a Python tuple per row."""
    buffer = io.BytesIO()
    connection = engine.raw_connection()
    try:
        with connection.cursor() as cursor:
            query = cursor.mogrify(text_to_pyformat(statement), parameters).decode()
            cursor.copy_expert(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)", buffer)
    finally:
        connection.close()
    buffer.seek(0)
    return pd.read_csv(buffer, dtype={"install_date": str}, keep_default_na=False,
                       na_values=[""])  # fmt: skip


def text_to_pyformat(statement: str) -> str:
    """`:name` bind parameters as psycopg2's `%(name)s` (and literal % doubled)."""
    return re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", statement.replace("%", "%%"))


def matched_rows(
    engine: Engine,
    since: date,
    until: date,
    today: date | None = None,
    columns: Iterable[str] | None = None,
) -> pd.DataFrame:
    """One row per user and stage for the install dates `since`..`until` (inclusive).

    Columns: user_id, install_date (ISO text), the actual revenue (NaN without an outcome), the
    prediction columns (`MATCHED_NAMES`; `columns` keeps only those named, `ESSENTIAL` always),
    the record dimensions of the prediction's input, and `status`: matched, no_prediction
    (an outcome, no prediction before it: prediction columns empty), overdue (a prediction
    whose install date is over OVERDUE_AFTER_DAYS days before `today`, no outcome) or awaiting.
    The install date is the outcome's, else the matched prediction's UTC date, else the date the
    outcome arrived.
    """
    today = today or datetime.now(UTC).date()
    wanted = set(PREDICTION_COLUMNS if columns is None else columns) | set(ESSENTIAL)
    chosen = [
        name for name in PREDICTION_COLUMNS if name in wanted or MATCHED_NAMES[name] in wanted
    ]
    dimensions = [name for name in PREDICTION_DIMENSIONS if columns is None or name in wanted]
    dialect = _DIALECTS[engine.dialect.name]
    statement = _matching_sql(dialect, chosen, dimensions)
    parameters = {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "after": (until + timedelta(days=1)).isoformat(),
        "overdue_before": (today - timedelta(days=OVERDUE_AFTER_DAYS)).isoformat(),
    }
    if engine.dialect.name == "postgresql":
        frame = _copy_frame(engine, statement, parameters)
    else:
        with engine.connect() as connection:
            frame = pd.read_sql(text(statement), connection, params=parameters)
    frame[ACTUAL] = pd.to_numeric(frame[ACTUAL], errors="coerce").astype(float)
    return frame
